#!/usr/bin/python
# -*- coding: utf-8 -*-
# MIT License (see the kernmod repository)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: kernel_module
short_description: A Linux kernel module in a desired state, through kernmod
description:
  - Loads, unloads, persists (modules-load.d, modprobe.d), blacklists or disables a kernel module by
    running C(kernmod apply) on the host, which loads through kernmod's modprobe (dependencies,
    modprobe.d options, aliases).
  - Files kernmod writes carry a marker line; files without it are never changed or deleted.
version_added: "0.1.0"
options:
  name:
    description: The module name (C(-) and C(_) are the same).
    type: str
    required: true
  state:
    description:
      - C(loaded) in the kernel now; C(installed) loaded now and at every boot (modules-load.d, params
        persisted as modprobe.d C(options)); C(unloaded) not in the kernel now; C(uninstalled)
        unloaded and kernmod's persisted files removed; C(blacklisted) a C(blacklist) line, unloaded;
        C(disabled) C(install NAME /bin/false), unloaded.
    type: str
    choices: [loaded, installed, unloaded, uninstalled, blacklisted, disabled]
    default: loaded
  params:
    description:
      - Parameter values. A writable parameter that differs from sysfs is set at run time; any other
        difference is reported as drift.
    type: dict
    default: {}
  reload:
    description: Fix a read-only parameter that differs by unloading and loading the module.
    type: bool
    default: false
  kernmod_path:
    description: The command that runs kernmod, split like a shell would (e.g. C(node /opt/kernmod/dist/lib/cli/main.js)).
    type: str
    default: kernmod
  load_dir:
    description: The modules-load.d directory kernmod writes to.
    type: path
  config_dir:
    description: The modprobe.d directory kernmod writes to.
    type: path
  root:
    description:
      - Write only the persisted files, under this directory (an image being built, a chroot); the
        running kernel is neither read nor changed.
    type: path
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
author:
  - kernmod contributors
"""

EXAMPLES = r"""
- name: loop at every boot with 8 devices
  kernmod.kernmod.kernel_module:
    name: loop
    state: installed
    params:
      max_loop: 8

- name: nothing may load pcspkr by name
  kernmod.kernmod.kernel_module:
    name: pcspkr
    state: disabled
"""

RETURN = r"""
actions:
  description: What kernmod did (or, in check mode, would do), with the values or file contents before and after.
  type: list
  elements: dict
  returned: always
drift:
  description: Read-only parameters whose value differs from the one asked for.
  type: list
  elements: dict
  returned: always
kernmod:
  description: kernmod's whole report (C(kernmod apply --json)).
  type: dict
  returned: always
"""

import json
import shlex

from ansible.module_utils.basic import AnsibleModule


def diff_of(actions):
    diffs = []
    for a in actions:
        if a.get("action") not in ("write-file", "remove-file"):
            continue
        diffs.append(
            {
                "before_header": a["path"],
                "after_header": a["path"],
                "before": a.get("before") or "",
                "after": a.get("after") or "",
            }
        )
    return diffs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", default="loaded", choices=["loaded", "installed", "unloaded", "uninstalled", "blacklisted", "disabled"]),
            params=dict(type="dict", default={}),
            reload=dict(type="bool", default=False),
            kernmod_path=dict(type="str", default="kernmod"),
            load_dir=dict(type="path"),
            config_dir=dict(type="path"),
            root=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    entry = {"state": p["state"], "reload": p["reload"]}
    if p["params"]:
        entry["params"] = p["params"]
    spec = {p["name"]: entry}

    cmd = shlex.split(p["kernmod_path"]) + ["apply", "--json"]
    if module.check_mode:
        cmd.append("--check")
    if p["load_dir"]:
        cmd += ["--load-dir", p["load_dir"]]
    if p["config_dir"]:
        cmd += ["--config-dir", p["config_dir"]]
    if p["root"]:
        cmd += ["--root", p["root"]]
    cmd.append("-")

    rc, out, err = module.run_command(cmd, data=json.dumps(spec), binary_data=True)
    try:
        report = json.loads(out)
    except ValueError:
        module.fail_json(msg="kernmod apply did not answer with JSON (exit %d): %s" % (rc, (err or out).strip()), rc=rc, cmd=cmd, stdout=out, stderr=err)

    actions = report.get("actions", [])
    result = dict(changed=bool(report.get("changed")), actions=actions, drift=report.get("drift", []), kernmod=report)
    if module._diff:
        result["diff"] = diff_of(actions)
    # Exit 2 is --check's "something would change"; 1 is an error (a refused spec, or a failure half-way).
    if rc not in (0, 2) or not report.get("ok", False):
        error = report.get("error") or {}
        msg = error.get("message") or (err or out).strip()
        if error.get("hint"):
            msg += " (" + error["hint"] + ")"
        module.fail_json(msg=msg, rc=rc, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
