import type { Plan } from './types.ts';
import { HostError } from './errors.ts';

export async function launchGuest(_plan: Plan, _options: { verbose: boolean }): Promise<number> {
  throw new HostError('launching is not wired yet');
}
