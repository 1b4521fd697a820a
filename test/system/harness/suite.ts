// One Gnomon daemon per describe block: started in beforeAll (inside a fresh namespace when it must own
// port 123), stopped and cleaned up in afterAll, failing loudly if it does not stop cleanly.
import { afterAll, beforeAll } from 'vitest';
import { GnomonDaemon, type GnomonOptions } from './daemon.js';
import { Netns } from './netns.js';
import { Teardown } from './process.js';

export interface GnomonSuite {
  readonly gnomon: GnomonDaemon;
  /** The namespace Gnomon runs in (only for port-123 suites). */
  readonly ns: Netns;
}

/**
 * `listen` "127.0.0.1:PORT" runs on this machine's loopback; "port123" runs Gnomon on 127.0.0.1:123 inside a
 * namespace created for the suite (ntpdig, ntpdate and ntpq only talk to port 123).
 */
export function gnomonSuite(config: string, listen: string | 'port123', options: Pick<GnomonOptions, 'env' | 'serveArgs'> = {}): GnomonSuite {
  const teardown = new Teardown();
  let gnomon: GnomonDaemon | undefined;
  let ns: Netns | undefined;
  beforeAll(async () => {
    if (listen === 'port123') ns = await createNamespace(teardown);
    const started = await GnomonDaemon.start({ config, listen: listen === 'port123' ? '127.0.0.1:123' : listen, ns, ...options });
    gnomon = started;
    teardown.add('gnomon', () => started.stop());
  });
  afterAll(() => teardown.run());
  return {
    get gnomon(): GnomonDaemon {
      if (!gnomon) throw new Error('gnomonSuite: the daemon is used before beforeAll started it');
      return gnomon;
    },
    get ns(): Netns {
      if (!ns) throw new Error('gnomonSuite: no namespace (only "port123" suites have one)');
      return ns;
    },
  };
}

async function createNamespace(teardown: Teardown): Promise<Netns> {
  const ns = await Netns.create();
  teardown.add(`namespace ${ns.name}`, () => ns.destroy());
  return ns;
}

/** A fresh namespace (loopback up) for a describe block, deleted in afterAll. */
export function namespaceSuite(): { readonly ns: Netns } {
  const teardown = new Teardown();
  let ns: Netns | undefined;
  beforeAll(async () => {
    ns = await createNamespace(teardown);
  });
  afterAll(() => teardown.run());
  return {
    get ns(): Netns {
      if (!ns) throw new Error('namespaceSuite: the namespace is used before beforeAll created it');
      return ns;
    },
  };
}
