export { scanQueueNames, syncSchedules, type SchedulerLogger, type SyncSchedulesOptions, type SyncSchedulesResult } from './sync-schedules.js';
export { runScheduler, DEFAULT_SYNC_INTERVAL_MS, type RunSchedulerOptions } from './run-scheduler.js';
export { nextRuns } from './next-runs.js';
export { closeProducer, connectProducer, isRedisUnreachable, redisError } from './connect-redis.js';
export { compareSchedules, payloadIds, schedulerView, type ScheduleState, type ScheduleStatus, type SchedulerView } from './compare-schedules.js';
