// A defined network's VXLAN device: on the network's bridge, flooding to each
// remote host, so hosts defining the same network share one L2 segment. Made
// with the network's first guest, removed with its last; everything about it
// comes from root's definition.
import { HostError } from '../base/errors.ts';
import { dropResource, findResource, recordIntent } from '../state/registry.ts';
import { run } from '../base/runner.ts';
import { vxlanDevice } from '../net/tunnel.ts';
import { liveUnderlay } from '../probe/underlay.ts';
import type { HostAction } from '../base/types.ts';
import {
  deleteHalfMadeLink,
  addMarkedLink,
  deleteLinkArgv,
  heldBridge,
  isRecordsLink,
  markArgv,
  destroyLink,
  linkExists,
  makeRecorded,
  networkRequest,
  refuse,
  type ActionKind,
} from './kind.ts';

type VxlanAction = Extract<HostAction, { kind: 'vxlan' }>;

const FLOOD = '00:00:00:00:00:00';

function createArgvs(action: VxlanAction, dev: string, local: string | undefined): string[][] {
  const { vxlan, device, network } = action;
  return [
    [
      'ip',
      'link',
      'add',
      'name',
      device,
      'type',
      'vxlan',
      'id',
      String(vxlan.vni),
      'dstport',
      String(vxlan.port),
      ...(local ? ['local', local] : []),
      'dev',
      dev,
      ...(vxlan.group ? ['group', vxlan.group] : []),
      'learning',
    ],
    // Unicast peers: broadcast and unknown frames go to each (learning finds the rest).
    ...vxlan.remotes.map((remote) => ['bridge', 'fdb', 'append', FLOOD, 'dev', device, 'dst', remote]),
    ['ip', 'link', 'set', 'dev', device, 'master', network, 'mtu', String(action.mtu), 'up'],
  ];
}

export const vxlan: ActionKind<VxlanAction> = {
  makesInterface: true,

  key: (action) => action.device,

  show(action) {
    const [add, ...rest] = createArgvs(action, action.underlay, action.local);
    return {
      apply: [add, markArgv(action.device), ...rest].map((argv) => ({ argv })),
      undo: [{ argv: deleteLinkArgv(action.device), note: "with the network's last guest" }],
    };
  },

  request: (action) => [action.network, action.guest],

  fromRequest(words, caller) {
    // VNI, peers, underlay and port: root's definition, never the request.
    const { name, guest, network } = networkRequest(words, caller, 'vxlan');
    if (!network?.vxlan) throw refuse(`network ${name} is not defined with a VXLAN tunnel`);
    const underlay = liveUnderlay(network.vxlan);
    if (!underlay) throw refuse(`network ${name}: no route to ${network.vxlan.remotes[0] ?? network.vxlan.group}`);
    return {
      kind: 'vxlan',
      network: name,
      guest,
      device: vxlanDevice(network.vxlan.vni),
      vxlan: network.vxlan,
      underlay: underlay.dev,
      local: underlay.local,
      mtu: underlay.mtu,
    };
  },

  async acquire(action, user, context) {
    heldBridge(context, user, action.network, action.guest);
    const existing = findResource(context.tx.registry, 'vxlan', action.device, context.netns);
    if (existing && isRecordsLink(action.device, existing)) {
      existing.users.push(user);
      return 'joined';
    }
    if (existing) dropResource(context.tx.registry, existing);
    if (linkExists(action.device))
      throw new HostError(
        `${action.device} exists and was not made by qemu-script; remove it, or give network ${action.network} ` +
          `another VNI`,
      );
    const underlay = liveUnderlay(action.vxlan);
    if (!underlay)
      throw new HostError(
        `network ${action.network}: no route to ${action.vxlan.remotes[0] ?? action.vxlan.group}, so no underlay ` +
          `for its tunnel`,
      );
    const record = recordIntent(context.tx, {
      kind: 'vxlan',
      name: action.device,
      netns: context.netns,
      creator: user.uid,
      users: [user],
      data: { network: action.network },
    });
    await makeRecorded(
      context,
      record,
      async () => {
        const [add, ...rest] = createArgvs(action, underlay.dev, underlay.local);
        await addMarkedLink(add, action.device, record, { verbose: context.verbose });
        for (const argv of rest) await run(argv, { verbose: context.verbose });
      },
      () => deleteHalfMadeLink(action.device, record),
    );
    return 'created';
  },

  destroy: destroyLink,
};
