// The Ansible collection on a real kernel (root, inside the qemu guest): `ansible-playbook -c local`
// with kernmod.kernmod.kernel_module from this checkout (ANSIBLE_COLLECTIONS_PATH), beside Debian's
// community.general.modprobe on another module. First run changed, second run unchanged, check mode
// changes nothing. Ansible needs /dev/shm and writable temp dirs; kernmod's files go to tmpfs mounts
// over the guest's read-only /etc/modprobe.d and /etc/modules-load.d.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARKER } from '../../../lib/provision/render.js';
import { procModule, requireKernel, sysfs } from '../helpers.js';

requireKernel();
const repo = new URL('../../../', import.meta.url).pathname;
const cli = join(repo, 'dist/lib/cli/main.js');
const ansiblePlaybook = '/usr/bin/ansible-playbook'; // Debian's ansible, installed by scripts/setup.sh
const MOUNTS = ['/etc/modprobe.d', '/etc/modules-load.d', '/dev/shm'];
const OURS = ['loop', 'nbd', 'dummy'];

function sh(cmd: string, ...args: string[]) {
  return spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 }); // modprobe -c prints megabytes
}
function unloadAll(): void {
  for (const m of OURS) if (procModule(m)) sh('rmmod', m);
}

const home = mkdtempSync('/tmp/kernmod-ansible-');
const playbook = join(home, 'modules.yml');
writeFileSync(
  playbook,
  `- hosts: localhost
  gather_facts: false
  tasks:
    - name: loop loaded now and at boot, with a parameter
      kernmod.kernmod.kernel_module:
        name: loop
        state: installed
        params:
          max_loop: 5
        kernmod_path: "${process.execPath} ${cli}"
    - name: dummy blacklisted
      kernmod.kernmod.kernel_module:
        name: dummy
        state: blacklisted
        kernmod_path: "${process.execPath} ${cli}"
    - name: nbd through community.general.modprobe, side by side
      community.general.modprobe:
        name: nbd
        state: present
        params: nbds_max=3
`,
);

interface PlayStats {
  ok: number;
  changed: number;
  failures: number;
  unreachable: number;
}

function play(...extra: string[]): {
  stats: PlayStats;
  tasks: Array<{ name: string; changed: boolean; result: Record<string, unknown> }>;
  raw: string;
} {
  const tmpDir = join(home, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  const r = spawnSync(
    ansiblePlaybook,
    ['-c', 'local', '-i', 'localhost,', '-e', 'ansible_python_interpreter=/usr/bin/python3', ...extra, playbook],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      env: {
        ...process.env,
        HOME: home,
        ANSIBLE_COLLECTIONS_PATH: repo,
        ANSIBLE_LOCAL_TEMP: tmpDir,
        ANSIBLE_REMOTE_TEMP: tmpDir,
        ANSIBLE_STDOUT_CALLBACK: 'json',
        ANSIBLE_NOCOLOR: '1',
        LC_ALL: 'C.UTF-8', // ansible-core refuses to start without a UTF-8 locale
        ANSIBLE_RETRY_FILES_ENABLED: '0',
      },
    },
  );
  let out: {
    stats: Record<string, PlayStats>;
    plays: Array<{ tasks: Array<{ task: { name: string }; hosts: Record<string, Record<string, unknown>> }> }>;
  };
  try {
    out = JSON.parse(r.stdout);
  } catch {
    throw new Error(`ansible-playbook did not print JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  const tasks = out.plays[0]!.tasks.map((t) => ({
    name: t.task.name,
    changed: t.hosts['localhost']!['changed'] === true,
    result: t.hosts['localhost']!,
  }));
  return { stats: out.stats['localhost']!, tasks, raw: r.stdout + r.stderr };
}

// ansible-playbook takes a minute or more per run under TCG.
describe.skipIf(!existsSync(cli))('Ansible: kernmod.kernmod.kernel_module beside community.general.modprobe', { timeout: 900_000 }, () => {
  beforeAll(() => {
    expect(existsSync(ansiblePlaybook), `${ansiblePlaybook}: run scripts/setup.sh (it installs Debian's ansible)`).toBe(true);
    for (const d of MOUNTS) {
      mkdirSync(d, { recursive: true });
      expect(sh('mount', '-t', 'tmpfs', '-o', d === '/dev/shm' ? 'mode=1777' : 'mode=0755', 'tmpfs', d).status).toBe(0);
    }
    unloadAll();
    expect(sh('modprobe', 'dummy').status).toBe(0);
  });
  afterAll(() => {
    unloadAll();
    for (const d of MOUNTS) sh('umount', d);
  });

  it('first run changes, second run is ok with zero changes', () => {
    const first = play();
    expect(first.stats, first.raw).toMatchObject({ changed: 3, failures: 0, unreachable: 0 });
    expect(first.tasks.map((t) => t.changed)).toEqual([true, true, true]);
    expect(first.tasks[0]!.result['actions']).toEqual(
      expect.arrayContaining([expect.objectContaining({ module: 'loop', action: 'load', status: 'done' })]),
    );
    expect(procModule('loop')?.state).toBe('Live');
    expect(sysfs('loop/parameters/max_loop')).toBe('5');
    expect(procModule('dummy')).toBeUndefined();
    expect(procModule('nbd')?.state).toBe('Live');
    expect(sysfs('nbd/parameters/nbds_max')).toBe('3');
    expect(readFileSync('/etc/modprobe.d/loop.conf', 'utf8')).toBe(`${MARKER}\noptions loop max_loop=5\n`);
    expect(readFileSync('/etc/modprobe.d/dummy.conf', 'utf8')).toBe(`${MARKER}\nblacklist dummy\n`);

    const second = play();
    expect(second.stats, second.raw).toMatchObject({ changed: 0, failures: 0 });
    expect(second.stats.ok).toBe(3);
  });

  it('check mode (with diff) reports the change and makes none', () => {
    expect(sh('rmmod', 'loop').status).toBe(0);
    const check = play('--check', '--diff');
    expect(check.stats, check.raw).toMatchObject({ changed: 1, failures: 0 });
    expect(check.tasks[0]).toMatchObject({ changed: true, result: { actions: [{ module: 'loop', action: 'load', status: 'planned' }] } });
    expect(procModule('loop')).toBeUndefined();

    // A diff: removing the persisted state, in check mode, shows the files going away and keeps them.
    writeFileSync(
      playbook,
      readFileSync(playbook, 'utf8')
        .replace('state: installed', 'state: uninstalled')
        .replace(/\n {8}params:\n {10}max_loop: 5/, ''),
    );
    const diff = play('--check', '--diff');
    expect(diff.tasks[0]!.result['diff']).toEqual([
      {
        before_header: '/etc/modules-load.d/loop.conf',
        after_header: '/etc/modules-load.d/loop.conf',
        before: `${MARKER}\nloop\n`,
        after: '',
      },
      {
        before_header: '/etc/modprobe.d/loop.conf',
        after_header: '/etc/modprobe.d/loop.conf',
        before: `${MARKER}\noptions loop max_loop=5\n`,
        after: '',
      },
    ]);
    expect(existsSync('/etc/modprobe.d/loop.conf')).toBe(true);
  });
});
