// Benchmark peer: Socket.IO 4 on Node with @socket.io/redis-adapter.
//
//   node server.js --port 9001 --redis redis://127.0.0.1:6379 [--host 127.0.0.1]
//
// Written as an ordinary Socket.IO user would: websocket transport only,
// no compression, Redis adapter over a pub/sub client pair, io.to(room).emit.
// Events: join {room} -> joined {room} (to the sender)
//         chat {room,text,cid} -> chat {room,text,cid} (to the room)
//         flip {room,n,ts} -> slide {n,ts} (to the room)
// Prints "READY <port>" once listening and the adapter is connected.
// Open files: Node itself raises its soft RLIMIT_NOFILE to the hard limit at
// start-up (checked on Node 20: `ulimit -S -n 1024` still shows 20000 here),
// so only the hard limit caps connections; the runner must set `ulimit -Hn`
// high enough (as root) if it is low. The limit is printed on stderr.
'use strict';

const fs = require('fs');
const { createServer } = require('http');
const { Server } = require('socket.io');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

// [soft, hard] open-files limit as strings ('unlimited' possible), or null.
function openFilesLimit() {
  try {
    const line = fs.readFileSync('/proc/self/limits', 'utf8')
      .split('\n').find((l) => l.startsWith('Max open files'));
    return line.split(/\s{2,}/).slice(1, 3);
  } catch (e) {
    return null;
  }
}

async function main() {
  const port = Number(arg('--port', '9001'));
  const host = arg('--host', '127.0.0.1');
  const redisUrl = arg('--redis', 'redis://127.0.0.1:6379');
  const nofile = openFilesLimit();
  console.error(`open files limit (soft / hard): ${nofile ? nofile.join(' / ') : 'unknown'}`);
  if (nofile && nofile[0] !== 'unlimited' && Number(nofile[0]) < 16384) {
    console.error('WARNING: open files limit below 16384 caps connections; raise the hard limit');
  }

  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  pubClient.on('error', (e) => console.error('redis pub error:', e.message));
  subClient.on('error', (e) => console.error('redis sub error:', e.message));
  await Promise.all([pubClient.connect(), subClient.connect()]);

  const httpServer = createServer();
  const io = new Server(httpServer, {
    transports: ['websocket'],
    perMessageDeflate: false,
    httpCompression: false,
    serveClient: false,
    cors: { origin: '*' },
    adapter: createAdapter(pubClient, subClient),
  });

  io.on('connection', (socket) => {
    socket.on('join', (msg) => {
      socket.join(msg.room);
      socket.emit('joined', { room: msg.room });
    });
    socket.on('chat', (msg) => {
      io.to(msg.room).emit('chat', { room: msg.room, text: msg.text, cid: msg.cid });
    });
    socket.on('flip', (msg) => {
      io.to(msg.room).emit('slide', { n: msg.n, ts: msg.ts });
    });
  });

  httpServer.listen(port, host, () => {
    process.stdout.write(`READY ${port}\n`);
  });

  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
