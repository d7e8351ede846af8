// One request's abort signal: aborted when the sender stops or when the request's deadline passes.
//
// Why not AbortSignal.any([stop, AbortSignal.timeout(ms)]): the timeout's timer and signal stay alive until
// it fires (LOGFERRY_REQUEST_TIMEOUT_MS after the request, long after its answer), and `any` keeps a
// WeakRef to each combined signal in the stop signal, so they pile up during a catch-up. Here the timer is
// cleared when the request is done, which is also cheaper per request (figures: docs/performance.md).

/** The reason of a deadline abort: a DOMException named TimeoutError, as AbortSignal.timeout gives. */
function timeoutReason(ms: number): DOMException {
  return new DOMException(`the request took longer than ${ms} ms`, 'TimeoutError');
}

export class RequestDeadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onStop: () => void;

  constructor(
    private readonly stop: AbortSignal,
    ms: number,
  ) {
    const c = this.controller;
    this.onStop = () => c.abort(stop.reason);
    if (stop.aborted) c.abort(stop.reason);
    else stop.addEventListener('abort', this.onStop, { once: true });
    this.timer = setTimeout(() => c.abort(timeoutReason(ms)), ms);
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The request is over (answered or failed): its timer and its listener on the stop signal go. */
  done(): void {
    clearTimeout(this.timer);
    this.stop.removeEventListener('abort', this.onStop);
  }
}
