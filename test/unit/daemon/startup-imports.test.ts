// What each thread of the daemon loads at start (docs/server.md, memory): every module loaded is
// source text, bytecode and module records on that thread's V8 heap for the life of the process.
import { describe, expect, it } from 'vitest';
import { staticImportGraph } from '../../support/import-graph.js';

describe('start-up imports', () => {
  it('the fast-path worker loads its own code, not the node:dgram shell', () => {
    const worker = staticImportGraph('src/server/fast/worker.ts');
    // The graph is followed (these are what the worker's loop runs) ...
    for (const needed of ['src/server/handler/handler.ts', 'src/server/fast/batch-socket.ts', 'src/server/kernel-rx-stamp.ts', 'src/auth/mac.ts']) {
      expect(worker).toContain(needed);
    }
    // ... and the main thread's serving shells and the config, web and discipline code are not in it,
    // nor node:crypto, which src/auth/mac.ts loads with the first key.
    for (const heavy of ['src/server/udp.ts', 'node:dgram', 'node:crypto', 'src/server/fast/fast-server.ts', 'src/config/parse.ts', 'src/discipline/discipline.ts', 'pino']) {
      expect(worker).not.toContain(heavy);
    }
  });

  it('the daemon loads a refclock driver when a refclock of its kind starts, not at start-up', () => {
    const serve = staticImportGraph('src/daemon/serve.ts');
    expect(serve).toContain('src/daemon/refclocks.ts');
    for (const driver of ['drivers/nmea/io.ts', 'drivers/gpsd/io.ts', 'drivers/pps/sysfs.ts', 'drivers/pps/gpio-cdev.ts', 'drivers/pps/onoff.ts', 'nmea-simple', 'serialport']) {
      expect(serve).not.toContain(driver);
    }
  });

  it('the daemon loads the web editors\' config service (and its diff package) at their first request, not at start-up', () => {
    const serve = staticImportGraph('src/daemon/serve.ts');
    expect(serve).toContain('src/web/config-routes-lazy.ts');
    for (const editor of ['src/web/config-routes.ts', 'src/config/store.ts', 'diff']) expect(serve).not.toContain(editor);
  });
});
