// A TCP server that accepts connections and never answers: the endpoint of
// the "request timed out" browser test. Prints its port, then runs until killed.
import net from "node:net";

const sockets = new Set();
const server = net.createServer((socket) => {
  sockets.add(socket);
  socket.on("close", () => sockets.delete(socket));
  socket.on("error", () => {});
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
