// The fake kernels' way of answering an async call: after a simulated delay, on a later turn of the
// event loop even when the delay is 0 (as a real call through the thread pool would), with whatever the
// synchronous answer throws turned into a rejection.
export const later = <T>(ms: number, f: () => T): Promise<T> =>
  new Promise((resolve, reject) =>
    setTimeout(() => {
      try {
        resolve(f());
      } catch (e) {
        reject(e);
      }
    }, ms),
  );
