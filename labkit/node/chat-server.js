// The course's own stack: a Socket.IO chat server in Node.js, with the events of labkit's chat.
// Lesson 08 runs it (where Node exists) to show that labkit's clients talk to it unchanged.
// Usage: node chat-server.js   (prints the port it listens on, 127.0.0.1 only)
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const httpServer = http.createServer();
const io = new Server(httpServer);
let connections = 0;

io.on("connection", (socket) => {
  const me = ++connections;

  socket.on("echo", (data, callback) => {
    if (typeof callback === "function") callback(data); // the acknowledgement
  });

  socket.on("chat", (data) => {
    if (data && typeof data === "object" && typeof data.room === "string") {
      socket.to(data.room).emit("chat", { from: me, text: String(data.text), room: data.room });
    } else {
      socket.broadcast.emit("chat", { from: me, text: String(data) }); // every other client
    }
  });

  socket.on("join", (room, callback) => {
    socket.join(room); // Python: await sio.enter_room(sid, room)
    if (typeof callback === "function") callback([...socket.rooms].filter((r) => r !== socket.id).sort());
  });

  socket.on("leave", (room, callback) => {
    socket.leave(room); // Python: await sio.leave_room(sid, room)
    if (typeof callback === "function") callback([...socket.rooms].filter((r) => r !== socket.id).sort());
  });
});

httpServer.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`http://127.0.0.1:${httpServer.address().port}`);
});

process.stdin.resume();
process.stdin.on("end", () => process.exit(0)); // the parent closes our stdin to stop us
