/**
 * Boot configuration: the Pi 5 installer's config.txt/cmdline.txt edits (image/pi5/boot-config.sh) on
 * Raspberry Pi OS's own files, idempotent; the Debian image's overlays (image/rootfs/usr/lib/gnomon/overlays)
 * match their sources and are the ones raspi-firmware-custom names; the udev rules name the group.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { output, PI5, requireTools, ROOTFS, run } from './tools.js';

// Raspberry Pi OS Lite bookworm (2024-11) as it comes.
const RASPIOS_CONFIG = `# For more options and information see
# http://rptl.io/configtxt
# Some settings may impact device functionality. See link above for details

# Uncomment some or all of these to enable the optional hardware interfaces
#dtparam=i2c_arm=on
#dtparam=i2s=on
#dtparam=spi=on

# Enable audio (loads snd_bcm2835)
dtparam=audio=on

# Automatically load overlays for detected cameras
camera_auto_detect=1

# Automatically load overlays for detected DSI displays
display_auto_detect=1

# Automatically load initramfs files, if found
auto_initramfs=1

# Enable DRM VC4 V3D driver
dtoverlay=vc4-kms-v3d
max_framebuffers=2

# Don't have the firmware create an initial video= setting in cmdline.txt.
# Use the kernel's default instead.
disable_fw_kms_setup=1

# Run in 64-bit mode
arm_64bit=1

# Disable compensation for displays with overscan
disable_overscan=1

# Run as fast as firmware / board allows
arm_boost=1

[cm4]
# Enable host mode on the 2711 built-in XHCI USB controller.
# This line should be removed if the legacy DWC2 controller is required
# (e.g. for USB device mode) or if USB support is not required.
otg_mode=1

[cm5]
dtoverlay=dwc2,dr_mode=host

[all]
`;
const RASPIOS_CMDLINE = 'console=serial0,115200 console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gnomon-boot-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function edit(fn: 'gnomon_edit_config_txt' | 'gnomon_edit_cmdline_txt', file: string) {
  return run('/bin/sh', ['-c', `. "${PI5}/boot-config.sh" && ${fn} "$1"`, 'sh', file]);
}

describe('config.txt (Pi 5 installer)', () => {
  test('appends one marked block with the UART and PPS lines, per model; again: unchanged', () => {
    const file = `${dir}/config.txt`;
    writeFileSync(file, RASPIOS_CONFIG);
    const r = edit('gnomon_edit_config_txt', file);
    expect(r.status, output(r)).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith(RASPIOS_CONFIG)).toBe(true);
    expect(text.slice(RASPIOS_CONFIG.length)).toBe(`
# >>> gnomon: install-on-raspios.sh writes this block again at every run
[all]
enable_uart=1
dtoverlay=pps-gpio,gpiopin=18
[pi5]
dtparam=uart0=on
[pi3]
dtoverlay=disable-bt
[pi4]
dtoverlay=disable-bt
[pi02]
dtoverlay=disable-bt
[all]
# <<< gnomon
`);
    expect(readFileSync(`${file}.gnomon-orig`, 'utf8')).toBe(RASPIOS_CONFIG);
    for (let i = 0; i < 3; i++) {
      expect(edit('gnomon_edit_config_txt', file).status).toBe(0);
      expect(readFileSync(file, 'utf8')).toBe(text);
    }
  });

  test('an older block anywhere is replaced (an upgrade), the lines after it kept', () => {
    const file = `${dir}/config-old.txt`;
    writeFileSync(file, `arm_64bit=1
# >>> gnomon: install-on-raspios.sh writes this block again at every run
dtoverlay=pps-gpio,gpiopin=4
# <<< gnomon
dtparam=spi=on
`);
    expect(edit('gnomon_edit_config_txt', file).status).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('gpiopin=4');
    expect(text.startsWith('arm_64bit=1\ndtparam=spi=on\n\n# >>> gnomon')).toBe(true);
    expect(text.match(/# >>> gnomon/g)).toHaveLength(1);
  });

  test('a missing config.txt is created with the block', () => {
    const file = `${dir}/absent-config.txt`;
    expect(edit('gnomon_edit_config_txt', file).status).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^# >>> gnomon.*\n\[all\]\nenable_uart=1\n/);
  });
});

describe('cmdline.txt (Pi 5 installer)', () => {
  test.each([
    [RASPIOS_CMDLINE, 'console=tty1 root=PARTUUID=4e639091-02 rootfstype=ext4 fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n'],
    ['console=ttyAMA0,115200 console=tty1 root=/dev/mmcblk0p2 rootwait\n', 'console=tty1 root=/dev/mmcblk0p2 rootwait\n'],
    ['console=tty0 console=ttyS1,115200 root=LABEL=RASPIROOT rw console=serial1\n', 'console=tty0 root=LABEL=RASPIROOT rw\n'],
    ['console=tty1 root=/dev/mmcblk0p2 rootwait\n', 'console=tty1 root=/dev/mmcblk0p2 rootwait\n'],
  ])('%j → %j, and again the same', (input, expected) => {
    const file = `${dir}/cmdline-${Math.random().toString(36).slice(2)}.txt`;
    writeFileSync(file, input);
    expect(edit('gnomon_edit_cmdline_txt', file).status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(expected);
    expect(edit('gnomon_edit_cmdline_txt', file).status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(expected);
    // The original is kept only when something changed.
    expect(existsSync(`${file}.gnomon-orig`)).toBe(input !== expected);
  });

  test('a cmdline.txt without root= is left alone, with an error', () => {
    const file = `${dir}/cmdline-broken.txt`;
    writeFileSync(file, 'console=serial0,115200\n');
    const r = edit('gnomon_edit_cmdline_txt', file);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('has no root= argument');
    expect(readFileSync(file, 'utf8')).toBe('console=serial0,115200\n');
  });
});

describe('device tree overlays (Debian image)', () => {
  const OVERLAYS = `${ROOTFS}/usr/lib/gnomon/overlays`;
  let dtc: string;
  beforeAll(() => {
    dtc = requireTools('dtc').dtc!;
  });
  const decompile = (file: string) => {
    const r = run(dtc, ['-q', '-I', 'dtb', '-O', 'dts', file]);
    expect(r.status, output(r)).toBe(0);
    return r.stdout;
  };

  test('each committed .dtbo is its .dts compiled (dtc -@)', () => {
    const sources = readdirSync(OVERLAYS).filter((f) => f.endsWith('.dts'));
    expect(sources.sort()).toEqual(['disable-bt.dts', 'pps-gpio.dts']);
    for (const source of sources) {
      const built = `${dir}/${source}.dtbo`;
      const r = run(dtc, ['-@', '-q', '-I', 'dts', '-O', 'dtb', '-o', built, `${OVERLAYS}/${source}`]);
      expect(r.status, output(r)).toBe(0);
      expect(decompile(built), source).toBe(decompile(`${OVERLAYS}/${source.replace(/\.dts$/, '.dtbo')}`));
    }
  });

  test('they refer only to labels Debian\'s upstream Raspberry Pi device trees have', () => {
    // From the __symbols__ of bcm2837-rpi-3-b.dtb and bcm2711-rpi-4-b.dtb in linux-image-6.12.95+deb12-arm64.
    const upstream = new Set(['gpio', 'uart0', 'uart1', 'bt', 'uart0_gpio14']);
    for (const name of ['disable-bt', 'pps-gpio']) {
      const fixups = /__fixups__ \{([^}]*)\}/.exec(decompile(`${OVERLAYS}/${name}.dtbo`))?.[1] ?? '';
      const labels = [...fixups.matchAll(/^\s*(\w+) =/gm)].map((m) => m[1]);
      expect(labels.length, name).toBeGreaterThan(0);
      for (const label of labels) expect(upstream.has(label!), `${name}: &${label}`).toBe(true);
    }
  });

  test('raspi-firmware-custom asks for exactly these overlays, with the UART and GPIO 18', () => {
    const custom = readFileSync(`${ROOTFS}/etc/default/raspi-firmware-custom`, 'utf8');
    const lines = custom.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toEqual(['enable_uart=1', 'dtoverlay=disable-bt', 'dtoverlay=pps-gpio,gpiopin=18']);
    for (const l of lines.filter((x) => x.startsWith('dtoverlay='))) {
      expect(existsSync(`${OVERLAYS}/${l.slice('dtoverlay='.length).split(',')[0]}.dtbo`)).toBe(true);
    }
  });
});

describe('udev rules', () => {
  test('/dev/gps0 is the PL011, and the GPS devices belong to the group gnomon, 0660', () => {
    const rules = readFileSync(`${ROOTFS}/usr/lib/udev/rules.d/99-gnomon.rules`, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(rules).toEqual([
      'SUBSYSTEM=="tty", KERNEL=="ttyAMA0", SYMLINK+="gps0", GROUP="gnomon", MODE="0660"',
      'SUBSYSTEM=="pps", GROUP="gnomon", MODE="0660"',
      'SUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gnomon", MODE="0660"',
    ]);
  });
});
