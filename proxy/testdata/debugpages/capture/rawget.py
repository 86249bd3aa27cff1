# rawget.py PORT PATH OUT: sends one GET and saves the response bytes exactly as received.
import socket, sys
port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
host = sys.argv[4] if len(sys.argv) > 4 else "app.example"
accept = sys.argv[5] if len(sys.argv) > 5 else "text/html"
s = socket.create_connection(("127.0.0.1", port))
s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: fixture\r\nAccept: %s\r\nConnection: close\r\n\r\n" % (path, host, accept)).encode())
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
open(out, "wb").write(data)
