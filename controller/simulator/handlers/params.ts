/** Typed access to verified request parameters. */
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
