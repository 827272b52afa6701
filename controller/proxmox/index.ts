/** The Proxmox VE client: what the rest of workerctl imports. */
export type { ProxmoxClient } from './client.js';
export { createProxmoxClient, HttpProxmoxClient } from './http-client.js';
export type {
  CallInfo,
  ProxmoxAuth,
  ProxmoxClientOptions,
  ProxmoxTlsOptions,
  RetryOptions,
  TaskPollOptions,
} from './options.js';
export { readToken, parseToken, type ParsedToken } from './token.js';
export { normaliseFingerprint } from './tls.js';
export { parseUpid, taskRef } from './upid.js';
export { isSuccessExit } from './codec.js';
export { encodeSshKeys, decodeSshKeys } from './form.js';
export type * from './types.js';
