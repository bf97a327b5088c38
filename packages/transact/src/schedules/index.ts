// The schedules concept's surface: cron arithmetic, the admin API and the per-executor loop.
/**
 * Cron schedules: validation and tick arithmetic, the runtime admin API (`strata.schedules`), and
 * the per-executor loop that starts each tick's workflow.
 *
 * Every executor runs the loop for the schedules whose workflow it has registered. A tick's
 * workflow ID is derived from the schedule and the tick time, and starting a workflow is
 * idempotent by ID, so however many executors see a tick, exactly one workflow runs for it; no
 * lock or leader is needed.
 */
export { DEFAULT_SCHEDULE_TIMEZONE, nextTick, scheduleTickWorkflowId, validateSchedule } from './cron.js';
export { ScheduleAdminImpl, type ScheduleAdminOptions } from './schedule-admin.js';
export { MAX_CATCH_UP_TICKS_PER_PASS, Scheduler, type SchedulerHost } from './scheduler.js';
