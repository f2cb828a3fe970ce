// --usb VID:PID: host USB devices passed to the guest, refused when the host has none of that id.
import { UsageError } from '../base/errors.ts';

export function planUsbPassthrough(ids: string[], hostDevices: string[]): string[] {
  return ids.flatMap((id) => {
    if (!hostDevices.includes(id))
      throw new UsageError(`--usb: no USB device ${id} on this host (see lsusb for VID:PID)`);
    const [vendor, product] = id.split(':');
    return ['-device', `usb-host,bus=xhci.0,vendorid=0x${vendor},productid=0x${product}`];
  });
}
