/** The options every command that talks to a running controller shares (status, test, session). */
import type { Command } from 'commander';
import { ControllerClient } from '../../api/client.js';

export interface ApiOptions {
  controller?: string;
  apiTokenFile?: string;
}

/** Adds --controller and --api-token-file to a command. */
export function withApiOptions(cmd: Command): Command {
  return cmd
    .option(
      '--controller <url>',
      'controller API URL (env WORKERCTL_CONTROLLER; default http://127.0.0.1:8080)',
    )
    .option(
      '--api-token-file <file>',
      'file holding the API bearer token (env WORKERCTL_API_TOKEN holds the token itself; default .workerctl/api-token)',
    );
}

/** A client for the options given. */
export function apiClient(opts: ApiOptions): ControllerClient {
  return new ControllerClient({ controller: opts.controller, apiTokenFile: opts.apiTokenFile });
}
