"""PyUNICORE 2.0.2's UFTP client for `cargo xtask bench uftp`.

Usage: uftp_peer.py download|upload REMOTE LOCAL; settings from UFTP_AUTH_URL,
UFTP_USER, UFTP_PASSWORD. Authenticates like PyUNICORE's uftpfs (persistent
session, base directory /), then moves the data through the raw data socket
in 1 MiB pieces, as an application using the module would.
"""
import os
import sys

from pyunicore.credentials import UsernamePassword
from pyunicore.uftp.uftp import UFTP

op, remote, local = sys.argv[1:4]
u = UFTP()
u.connect(UsernamePassword(os.environ["UFTP_USER"], os.environ["UFTP_PASSWORD"]), os.environ["UFTP_AUTH_URL"], "/")
remote = remote.lstrip("/")
if op == "download":
    sock = u.get_read_socket(remote, 0)
    with open(local, "wb") as f:
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            f.write(data)
    sock.close()
    u.ftp.voidresp()
else:
    sock = u.get_write_socket(remote, 0)
    with open(local, "rb") as f:
        while True:
            data = f.read(1 << 20)
            if not data:
                break
            sock.sendall(data)
    sock.close()
    u.ftp.voidresp()
u.close()
