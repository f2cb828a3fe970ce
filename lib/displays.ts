import type { PortPicker } from './ports.ts';
import type { DisplayRequest } from './types.ts';

interface DisplayPlan {
  argv: string[];
  messages: string[];
}

interface DisplayContext {
  request: DisplayRequest;
  ports: PortPicker;
}

const TELNET_BASE = 10000;
const VNC_BASE = 5900;
const SPICE_MONITOR_BASE = 2345;

const telnetServer = (port: number) => `telnet:127.0.0.1:${port},server=on,wait=off`;

// One entry per display: what it adds to the QEMU line and what the user is told.
export const DISPLAYS: Record<DisplayRequest['kind'], (context: DisplayContext) => DisplayPlan> = {
  none: () => ({ argv: ['-display', 'none'], messages: [] }),
  stdio: () => ({ argv: ['-display', 'none', '-serial', 'mon:stdio'], messages: ['Serial console and monitor on this terminal (Ctrl-A X quits)'] }),
  telnet: ({ request, ports }) => {
    const port = request.port === undefined ? ports.firstFree(TELNET_BASE) : ports.exactly(request.port, '--display telnet');
    return { argv: ['-display', 'none', '-serial', telnetServer(port)], messages: [`Serial console: telnet localhost ${port}`] };
  },
  vga: () => ({ argv: ['-device', 'virtio-vga', '-display', 'gtk,window-close=off', '-monitor', 'vc'], messages: [] }),
  vnc: ({ ports }) => {
    const port = ports.firstFree(VNC_BASE);
    return { argv: ['-device', 'virtio-vga', '-vnc', `127.0.0.1:${port - VNC_BASE}`], messages: [`VNC on localhost:${port}`] };
  },
  spice: ({ ports }) => {
    const port = ports.firstFree(SPICE_MONITOR_BASE);
    return {
      argv: [
        '-device', 'qxl-vga', '-display', 'spice-app',
        '-device', 'virtio-serial', '-chardev', 'spicevmc,id=vdagent,name=vdagent',
        '-device', 'virtserialport,chardev=vdagent,name=com.redhat.spice.0',
        '-monitor', telnetServer(port),
      ],
      messages: ['SPICE viewer opens on a unix socket (copy and paste through the vdagent)', `Monitor: telnet localhost ${port}`],
    };
  },
};
