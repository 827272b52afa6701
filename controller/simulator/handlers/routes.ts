/** The implemented /api2/json endpoints. Anything else answers 501 (pve-manager PVE/HTTPServer.pm rest_handler). */
import { Router } from '../http/router.js';
import type { Simulator } from '../simulator.js';
import { getExecStatus, getNetworkInterfaces, getOsInfo, postExec, postPing } from './agent.js';
import { getTicket, postTicket } from './access.js';
import {
  getClusterStatus,
  getNextId,
  getNodes,
  getNodeStorage,
  getResources,
  getVersion,
} from './cluster.js';
import { postClone } from './clone.js';
import { deleteVm, postCreate } from './lifecycle.js';
import { postMigrate } from './migrate.js';
import { postMoveDisk } from './move-disk.js';
import { getStatusCurrent, postReboot, postShutdown, postStart, postStop } from './power.js';
import { getConfig, getPending, listQemu, postConfig, putConfig, putResize } from './qemu-config.js';
import { clusterTasks, deleteTask, getTaskLog, getTaskStatus, listTasks } from './tasks.js';

const Q = '/nodes/{node}/qemu/{vmid}';

/** Builds the route table. */
export function buildRoutes(): Router<Simulator> {
  return new Router<Simulator>()
    .add({ method: 'GET', template: '/version', handler: getVersion })
    .add({ method: 'POST', template: '/access/ticket', handler: postTicket })
    .add({ method: 'GET', template: '/access/ticket', handler: getTicket })
    .add({ method: 'GET', template: '/nodes', handler: getNodes })
    .add({ method: 'GET', template: '/nodes/{node}/storage', handler: getNodeStorage })
    .add({ method: 'GET', template: '/cluster/resources', handler: getResources })
    .add({ method: 'GET', template: '/cluster/nextid', handler: getNextId })
    .add({ method: 'GET', template: '/cluster/status', handler: getClusterStatus })
    .add({ method: 'GET', template: '/cluster/tasks', handler: clusterTasks })
    .add({ method: 'GET', template: '/nodes/{node}/qemu', handler: listQemu })
    .add({ method: 'POST', template: '/nodes/{node}/qemu', handler: postCreate })
    .add({ method: 'DELETE', template: Q, handler: deleteVm })
    .add({ method: 'GET', template: `${Q}/config`, handler: getConfig })
    .add({ method: 'PUT', template: `${Q}/config`, handler: putConfig })
    .add({ method: 'POST', template: `${Q}/config`, handler: postConfig })
    .add({ method: 'GET', template: `${Q}/pending`, handler: getPending })
    .add({ method: 'PUT', template: `${Q}/resize`, handler: putResize })
    .add({ method: 'POST', template: `${Q}/clone`, handler: postClone })
    .add({ method: 'POST', template: `${Q}/move_disk`, handler: postMoveDisk })
    .add({ method: 'POST', template: `${Q}/migrate`, handler: postMigrate })
    .add({ method: 'GET', template: `${Q}/status/current`, handler: getStatusCurrent })
    .add({ method: 'POST', template: `${Q}/status/start`, handler: postStart })
    .add({ method: 'POST', template: `${Q}/status/stop`, handler: postStop })
    .add({ method: 'POST', template: `${Q}/status/shutdown`, handler: postShutdown })
    .add({ method: 'POST', template: `${Q}/status/reboot`, handler: postReboot })
    .add({ method: 'POST', template: `${Q}/agent/ping`, handler: postPing })
    .add({ method: 'GET', template: `${Q}/agent/network-get-interfaces`, handler: getNetworkInterfaces })
    .add({ method: 'GET', template: `${Q}/agent/get-osinfo`, handler: getOsInfo })
    .add({ method: 'POST', template: `${Q}/agent/exec`, handler: postExec })
    .add({ method: 'GET', template: `${Q}/agent/exec-status`, handler: getExecStatus })
    .add({ method: 'GET', template: '/nodes/{node}/tasks', handler: listTasks })
    .add({ method: 'GET', template: '/nodes/{node}/tasks/{upid}/status', handler: getTaskStatus })
    .add({ method: 'GET', template: '/nodes/{node}/tasks/{upid}/log', handler: getTaskLog })
    .add({ method: 'DELETE', template: '/nodes/{node}/tasks/{upid}', handler: deleteTask });
}
