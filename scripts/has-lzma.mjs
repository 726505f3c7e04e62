#!/usr/bin/env node
// Prints 1 when liblzma's header is installed (Debian: liblzma-dev), else 0. binding.gyp builds the
// kernmod_xz addon against liblzma only then; without it kernmod decodes xz with @napi-rs/lzma.
import { existsSync } from 'node:fs';

const dirs = ['/usr/include', '/usr/local/include', '/usr/pkg/include', '/opt/homebrew/include'];
process.stdout.write(dirs.some((d) => existsSync(`${d}/lzma.h`)) ? '1' : '0');
