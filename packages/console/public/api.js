// The console's JSON API, as the pages use it. Errors carry the API's code and message.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

async function call(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'CONSOLE_UNREACHABLE', 'the console server does not answer; is it still running?');
  }
  const data = await response.json().catch(() => null);
  if (response.status === 401 && location.pathname !== '/login') {
    location.assign('/login'); // the session ended (or the console restarted with a new token)
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(response.status, error.code ?? `HTTP_${response.status}`, error.message ?? `${method} ${path} failed with HTTP ${response.status}`);
  }
  return data;
}

const id = (workflowId) => encodeURIComponent(workflowId);

export const api = {
  listWorkflows: (query) => call('GET', `/api/workflows?${query}`),
  getWorkflow: (workflowId) => call('GET', `/api/workflows/${id(workflowId)}`),
  steps: (workflowId) => call('GET', `/api/workflows/${id(workflowId)}/steps`),
  events: (workflowId) => call('GET', `/api/workflows/${id(workflowId)}/events`),
  attempts: (workflowId) => call('GET', `/api/workflows/${id(workflowId)}/attempts`),
  actions: (workflowId) => call('GET', `/api/workflows/${id(workflowId)}/actions`),
  cancel: (workflowId) => call('POST', `/api/workflows/${id(workflowId)}/cancel`),
  resume: (workflowId) => call('POST', `/api/workflows/${id(workflowId)}/resume`),
  restart: (workflowId) => call('POST', `/api/workflows/${id(workflowId)}/restart`, {}),
  fork: (workflowId, fromStep) => call('POST', `/api/workflows/${id(workflowId)}/fork`, { fromStep }),
  remove: (workflowId) => call('DELETE', `/api/workflows/${id(workflowId)}`),
  queues: () => call('GET', '/api/queues'),
  schedules: () => call('GET', '/api/schedules'),
  executors: () => call('GET', '/api/executors'),
  info: () => call('GET', '/api/info'),
  login: (token) => call('POST', '/api/login', { token }),
};
