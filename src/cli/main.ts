#!/usr/bin/env -S node --max-semi-space-size=1 --optimize-for-size --v8-pool-size=1
/*
 * The node flags above are the daemon's memory budget (issue 9: <= 64 MB resident under a
 * million clients): young generation 2 × 1 MB instead of up to 2 × 16 MB, V8's heap sized for
 * memory over speed (old space grows less before a full collection), one V8 helper thread instead
 * of four (each thread is a stack and a malloc arena). The same flags are in every place the daemon
 * starts: image/rootfs/usr/lib/systemd/system/gnomon.service, image/pi5/install-on-raspios.sh,
 * `npm start`; test/unit/image/units.test.ts keeps them equal. docs/benchmarks.md has the numbers.
 */
/**
 * The `gnomon` command: one entry point for the daemon and the administrator's tools.
 */
import { realpathSync } from 'node:fs';
import { packageVersion } from '../daemon/version.js';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { processIo, type CliIo } from './io.js';

const HELP = `gnomon - GPS-disciplined stratum-1 NTP server

usage: gnomon <command> [options]

commands:
  serve [--config FILE] [--listen ADDR[:PORT]]... [--user NAME] [--control PATH] [--no-kernel]
        [--web ADDR:PORT|off] [--web-password FILE] [--web-public-status]
        [--server-path auto|fast|dgram] [--server-workers N|auto] [--rx-coalesce-us N]
        run the NTP server in the foreground (SIGHUP reloads the config, SIGTERM stops);
        --server-path (or GNOMON_SERVER_PATH): auto (default) = batched recvmmsg/sendmmsg
        workers where they can run, else node:dgram (logged); fast = refuse to start without
        them (--fast-path, GNOMON_FAST_PATH=1: deprecated aliases); --server-workers (or
        GNOMON_SERVER_WORKERS): fast-path worker threads per listen address (default 0: the
        main thread answers, ~10 MiB less memory; N >= 1 for more than one core; auto = cores);
        --rx-coalesce-us (or GNOMON_RX_COALESCE_US): at >= 1 request per N µs a fast-path worker
        waits N µs after a short batch, like a NIC's rx-usecs (default 50; 0 = off; docs/server.md);
        without --config it runs the embedded default (local clock, 127.0.0.1:11123);
        the web page listens on --web (default 127.0.0.1:8123; docs/web.md)
  passwd [--file PATH] [--config FILE] [--owner USER]
        set the web page's admin password (scrypt hash, mode 0600)
  demo [sim options] [--listen ADDR[:PORT]] [--config EXTRA] [--control PATH]
        run the GPS simulator and the server together (what \`npm start\` runs): stratum 1
        on 127.0.0.1:11123 once NMEA and PPS are paired
  status [--control PATH] [--json]
        ask the running daemon what it serves and why (exit 0 synchronised, 1 not, 2 no answer)
  query HOST... [--port N] [--samples K] [--json]
        ask NTP servers for the time once, like ntpdate -q (works while a daemon holds port 123)
  peers [HOST] [--port N] [-n] [--json]   (alias: ntpq)
        the server's associations as \`ntpq -p\` prints them, over mode 6 (Gnomon or ntpd)
  config validate [--config FILE] [--json]
        check an ntp.conf-style file and print every error with file:line:column
  config restrict list|add ADDR[/LEN|mask M] FLAGS...|remove ADDR|set-default FLAGS...
  config broadcast list|add ADDR [ttl T] [key K] [minpoll P]|remove ADDR
  config diff|history|rollback [ID]   [--config FILE] [--control PATH] [--json]
        edit the config safely (validated, atomic, previous versions kept) and reload the
        running daemon; a config the daemon refuses is put back (exit 3)
  nmea decode FILE [--json] [--fix-only] [--pivot YYYY-MM-DD]
        replay a captured GPS log (gpsd format) and print each epoch's UTC time, fix, satellites
  sim --dir DIR [--receiver ublox|mtk] [--offset-ms X] [--fault NAME]... [--print-config]
        simulate a GPS receiver (NMEA pty + kernel-PPS file) and print the config lines to read it

options:
  -h, --help     this help (also: gnomon <command> --help)
  -V, --version  print the version
`;


export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.stdout(HELP);
      return command === undefined ? 2 : 0;
    case '-V':
    case '--version':
      io.stdout(`gnomon ${packageVersion()}\n`);
      return 0;
    case 'serve':
      return serveCommand(rest, io);
    case 'status': {
      const { statusCommand } = await import('./status.js');
      return statusCommand(rest, io);
    }
    case 'demo': {
      const { demoCommand } = await import('./demo.js');
      return demoCommand(rest, io);
    }
    case 'query': {
      const { queryCommand } = await import('./query.js');
      return queryCommand(rest, io);
    }
    case 'peers':
    case 'ntpq': {
      const { peersCommand } = await import('./peers.js');
      return peersCommand(rest, io, command);
    }
    case 'config': {
      const { configCommand } = await import('./config.js');
      return configCommand(rest, io);
    }
    case 'passwd': {
      const { passwdCommand } = await import('./passwd.js');
      return passwdCommand(rest, io);
    }
    case 'nmea': {
      const { nmeaCommand } = await import('./nmea.js');
      return nmeaCommand(rest, io);
    }
    case 'sim': {
      const { simCommand } = await import('./sim.js');
      return simCommand(rest, io);
    }
    default:
      io.stderr(`gnomon: unknown command "${command}"\n${HELP}`);
      return 2;
  }
}

async function serveCommand(argv: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string', short: 'c' },
        listen: { type: 'string', short: 'l', multiple: true, default: [] },
        user: { type: 'string', short: 'u' },
        control: { type: 'string' },
        'no-kernel': { type: 'boolean', default: false },
        web: { type: 'string' },
        'web-password': { type: 'string' },
        'web-public-status': { type: 'boolean', default: false },
        'server-path': { type: 'string' },
        'server-workers': { type: 'string' },
        'rx-coalesce-us': { type: 'string' },
        'fast-path': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    io.stderr(`gnomon serve: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout(HELP);
    return 0;
  }
  const { serve } = await import('../daemon/serve.js');
  try {
    return await serve({ configPath: values.config, listen: values.listen ?? [], user: values.user, controlSocket: values.control, noKernel: values['no-kernel'],
      serverPath: values['server-path'], serverWorkers: values['server-workers'], rxCoalesceUs: values['rx-coalesce-us'], fastPath: values['fast-path'],
      web: { listen: values.web, passwordFile: values['web-password'], publicStatus: values['web-public-status'] } });
  } catch (err) {
    io.stderr(`gnomon serve: ${(err as Error).message}\n`);
    return 1;
  }
}

// Run when executed (bin link or `node dist/src/cli/main.js`), not when imported by tests.
function invokedDirectly(): boolean {
  try {
    return realpathSync(process.argv[1] ?? '') === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (invokedDirectly()) {
  // `gnomon ... | head` closes the pipe early: stop quietly, as coreutils do, instead of an EPIPE stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (err: Error) => {
    process.stderr.write(`gnomon: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  });
}
