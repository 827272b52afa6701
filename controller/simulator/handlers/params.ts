/** Typed access to verified request parameters. */
import { paramError } from '../http/api-error.js';
import type { ApiRequest } from '../http/router.js';

export const str = (req: ApiRequest, k: string): string => String(req.params[k]);
export const optStr = (req: ApiRequest, k: string): string | undefined =>
  req.params[k] === undefined ? undefined : String(req.params[k]);
export const num = (req: ApiRequest, k: string): number => Number(req.params[k]);
export const optNum = (req: ApiRequest, k: string): number | undefined =>
  req.params[k] === undefined ? undefined : Number(req.params[k]);
export const flag = (req: ApiRequest, k: string): boolean => req.params[k] === 1;
/** The UPID user of the caller. */
export const userOf = (req: ApiRequest): string => req.caller?.user ?? 'root@pam';

/**
 * qemu-server PVE/API2/Qemu.pm: `skiplock` and the other root-only options are refused for anyone but
 * root@pam itself - an API token's user is `root@pam!id` (pve-manager PVE/HTTPServer.pm auth_handler).
 */
export function rootOnly(req: ApiRequest, ...names: string[]): void {
  for (const name of names)
    if (req.params[name] !== undefined && req.params[name] !== 0 && req.caller?.user !== 'root@pam')
      throw paramError({ [name]: 'Only root may use this option.' });
}
