// qemu-script fwd add, rm and ls: a running guest's forwards, changed while it runs.
import type { Subcommand } from '../cli/command.ts';
import { fwdAdd, fwdLs, fwdRm } from '../guest/forwards.ts';
import { JSON_FLAG, print, text } from './words.ts';

export const FWD_COMMANDS: readonly Subcommand[] = [
  {
    name: 'fwd add',
    guestArgument: true,
    args: 'NAME [tcp:|udp:]HOSTPORT-GUESTPORT',
    summary:
      "forward a host port to a running guest: on 127.0.0.1 to its user network, else from the host's addresses " +
      'to its address on a defined network with DHCP',
    flags: [
      {
        name: 'listen',
        value: 'ADDR',
        help: "into a defined network: one IPv4 address of this host to listen on (default: all but loopback's)",
      },
    ],
    positionals: [2, 2],
    run: async ({ flags, args }, context) => print(await fwdAdd(context, args[0], args[1], text(flags.listen))),
  },
  {
    name: 'fwd rm',
    guestArgument: true,
    args: 'NAME [tcp:|udp:]HOSTPORT',
    summary: "remove a running guest's forward of a host port (TCP unless udp: is written)",
    flags: [],
    positionals: [2, 2],
    run: async ({ args }, context) => print(await fwdRm(context, args[0], args[1])),
  },
  {
    name: 'fwd ls',
    guestArgument: true,
    args: '[NAME]',
    summary: 'the forwards of your guests (or of one): protocol, host address and port, guest port',
    flags: [JSON_FLAG],
    positionals: [0, 1],
    run: async ({ flags, args }, context) => print(fwdLs(context, args[0], Boolean(flags.json))),
  },
];
