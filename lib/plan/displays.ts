import { monitorSocketPath } from '../base/paths.ts';
import type { PortPicker } from './ports.ts';
import { qemuValue } from './qemu-syntax.ts';
import type { DisplayRequest } from '../base/types.ts';

interface DisplayPlan {
  argv: string[];
  messages: string[];
}

interface DisplayContext {
  request: DisplayRequest;
  ports: PortPicker;
  /** The guest's runtime directory: where a monitor socket goes. */
  runDir: string;
}

const TELNET_BASE = 10000;
const VNC_BASE = 5900;

const telnetServer = (port: number) => `telnet:127.0.0.1:${port},server=on,wait=off`;

// One entry per display: what it adds to the QEMU line and what the user is told.
export const DISPLAYS: Record<DisplayRequest['kind'], (context: DisplayContext) => DisplayPlan> = {
  none: () => ({ argv: ['-display', 'none'], messages: [] }),
  stdio: () => ({
    argv: ['-display', 'none', '-serial', 'mon:stdio'],
    messages: ['Serial console and monitor on this terminal (Ctrl-A X quits)'],
  }),
  telnet: ({ request, ports }) => {
    const port =
      request.port === undefined ? ports.firstFree(TELNET_BASE) : ports.exactly(request.port, '--display telnet');
    // mon: multiplexes QEMU's monitor on the console, as `vm` did (Ctrl-A c switches).
    return {
      argv: ['-display', 'none', '-serial', `mon:${telnetServer(port)}`],
      messages: [`Serial console and monitor: telnet localhost ${port} (Ctrl-A c switches between them)`],
    };
  },
  vga: () => ({ argv: ['-device', 'virtio-vga', '-display', 'gtk,window-close=off', '-monitor', 'vc'], messages: [] }),
  vnc: ({ ports }) => {
    const port = ports.firstFree(VNC_BASE);
    return {
      argv: ['-device', 'virtio-vga', '-vnc', `127.0.0.1:${port - VNC_BASE}`],
      messages: [`VNC on localhost:${port}`],
    };
  },
  spice: ({ runDir }) => {
    // A unix socket in the guest's own directory: a TCP monitor of a root-run QEMU would be a root shell for every
    // local user.
    const monitor = monitorSocketPath(runDir);
    return {
      argv: [
        '-device',
        'qxl-vga',
        '-display',
        'spice-app',
        '-device',
        'virtio-serial',
        '-chardev',
        'spicevmc,id=vdagent,name=vdagent',
        '-device',
        'virtserialport,chardev=vdagent,name=com.redhat.spice.0',
        '-monitor',
        `unix:${qemuValue(monitor)},server=on,wait=off`,
      ],
      messages: [
        'SPICE viewer opens on a unix socket (copy and paste through the vdagent)',
        `Monitor: nc -U ${monitor}`,
      ],
    };
  },
};
