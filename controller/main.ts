#!/usr/bin/env node
/** Entry point of the `workerctl` binary: composition only. */
import { runCli } from './cli/program.js';
import { stopRequested } from './cli/signals.js';

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
// Stopped by a signal: what the command left behind (a request that never returns) must not keep it.
if (stopRequested()) process.exit(code);
