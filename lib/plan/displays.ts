// One entry per display: what it adds to the QEMU line and what the user is told. Nothing of a guest
// listens on TCP: its console, monitor and screen are unix sockets in the guest's own directory
// (mode 0700), so no other local user reaches them. The serial console (with the monitor on Ctrl-A c)
// is there for every display but stdio: `qemu-script console NAME` attaches.
import { consoleSocketPath, monitorSocketPath, vncSocketPath } from '../base/paths.ts';
import { qemuValue } from './qemu-syntax.ts';
import type { DisplayRequest } from '../base/types.ts';

interface DisplayPlan {
  argv: string[];
  messages: string[];
}

interface DisplayContext {
  /** The guest's runtime directory: where its sockets go. */
  runDir: string;
  /** Where the console is also logged, appended (QEMU's logfile of the chardev). */
  log: string;
  name: string;
  /** The user's QEMU words give the first serial port (-serial, -nographic): the console is theirs. */
  ownSerial: boolean;
}

const socket = (path: string) => `path=${qemuValue(path)},server=on,wait=off`;

/** The serial console and a monitor multiplexed on one private socket, the console logged as it goes. */
function privateConsole({ runDir, log, name, ownSerial }: DisplayContext): DisplayPlan {
  if (ownSerial) return { argv: [], messages: [] };
  return {
    argv: [
      '-chardev',
      `socket,id=console,${socket(consoleSocketPath(runDir))},mux=on,logfile=${qemuValue(log)},logappend=on`,
      '-serial',
      'chardev:console',
      '-mon',
      'chardev=console,mode=readline',
    ],
    messages: [`Console: qemu-script console ${name} (Ctrl-] detaches, Ctrl-A c: the monitor)`],
  };
}

const join = (...plans: DisplayPlan[]): DisplayPlan => ({
  argv: plans.flatMap((plan) => plan.argv),
  messages: plans.flatMap((plan) => plan.messages),
});

export const DISPLAYS: Record<DisplayRequest['kind'], (context: DisplayContext) => DisplayPlan> = {
  none: (context) => join({ argv: ['-display', 'none'], messages: [] }, privateConsole(context)),
  stdio: () => ({
    argv: ['-display', 'none', '-serial', 'mon:stdio'],
    messages: ['Serial console and monitor on this terminal (Ctrl-A X quits)'],
  }),
  vga: (context) =>
    join(
      { argv: ['-device', 'virtio-vga', '-display', 'gtk,window-close=off', '-monitor', 'vc'], messages: [] },
      privateConsole(context),
    ),
  vnc: (context) => {
    const vnc = vncSocketPath(context.runDir);
    return join(
      {
        argv: ['-device', 'virtio-vga', '-vnc', `unix:${qemuValue(vnc)}`],
        messages: [`Screen: VNC on ${vnc} (vncviewer ${vnc}, or remote-viewer vnc+unix://${vnc})`],
      },
      privateConsole(context),
    );
  },
  spice: (context) => {
    const monitor = monitorSocketPath(context.runDir);
    return join(
      {
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
        messages: ['SPICE viewer opens on a private unix socket (copy and paste through the vdagent)'],
      },
      privateConsole(context),
    );
  },
};
