/* SPDX-License-Identifier: GPL-2.0 */
#ifndef KERNMOD_EXPORTER_H
#define KERNMOD_EXPORTER_H

/* Exported (GPL) by kernmod_exporter.ko; returns 42. */
int kernmod_exporter_answer(void);

#endif
