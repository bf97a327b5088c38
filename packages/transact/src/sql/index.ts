// Every SQL statement of the transact engine, one module per concern.
export * from './types.js';
export * from './insert-workflow.js';
export * from './get-workflow.js';
export * from './complete-workflow.js';
export * from './cancel-workflows.js';
export * from './pending-workflows.js';
export * from './steps.js';
export * from './messages.js';
export * from './events.js';
export * from './streams.js';
export * from './transaction-outputs.js';
export * from './queues.js';
export * from './executors.js';
export * from './management.js';
export * from './history.js';
