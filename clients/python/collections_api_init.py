"""collections_api: a Python client of collectionsd.

(This file is the package's __init__.py: the build copies it next to the
generated modules, build/clients/python/collections_api/.)

The generated modules of the contract (protos/collections/v1/) are in
collections_api.v1, one pair per .proto file, e.g.

    from collections_api.v1 import case_service_pb2, case_service_pb2_grpc

(they are named collections_api rather than collections.v1 because Python's
standard library owns the name "collections"; the messages, services and
their full names on the wire are those of the package collections.v1).

connect() makes a channel with the same rules as the project's C++ clients
(clients/common/channel.h):

  - tls_ca given: TLS, verifying the server against that CA bundle; with
    tls_cert and tls_key also a client certificate (mutual TLS).
  - no tls_ca and a loopback server (localhost, 127.0.0.0/8, [::1]): gRPC's
    local credentials (plaintext, loopback only).
  - no tls_ca and any other server: refused (ValueError), so that a token
    never crosses the network in plaintext.
  - token_file given: every call carries "authorization: Bearer <JWT>",
    read from the file and read again whenever the file changes (a rotated
    token is picked up; a half-written or unreadable file keeps the last
    good token).

Each argument left as None defaults from the environment variable the C++
clients read: COLLECTIONS_TLS_CA, COLLECTIONS_TLS_CERT, COLLECTIONS_TLS_KEY,
COLLECTIONS_TOKEN_FILE. The channel and its token plugin may be used from
any thread.
"""

import ipaddress
import os
import threading

import grpc

__all__ = ["connect", "TokenFile"]


def _env(value, name):
    if value is not None:
        return value
    return os.environ.get(name) or None


def _host(target):
    """The host of a gRPC target: "localhost:50051" -> "localhost",
    "[::1]:1" -> "::1", "dns:///example.com:443" -> "example.com"."""
    if target.startswith("unix:"):
        return ""
    for scheme in ("dns:///", "ipv4:", "ipv6:"):
        if target.startswith(scheme):
            target = target[len(scheme):]
            break
    if target.startswith("["):
        return target[1:target.find("]")]
    return target.rsplit(":", 1)[0] if ":" in target else target


def _is_loopback(target):
    host = _host(target)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read(path, what):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"{what}: cannot read {path}: {e.strerror}") from e
    if not data.strip():
        raise ValueError(f"{what}: {path} is empty")
    return data


class TokenFile(grpc.AuthMetadataPlugin):
    """The bearer token of a file, read again when the file changes."""

    def __init__(self, path):
        self._path = path
        self._lock = threading.Lock()
        self._stamp = None
        self._token = _read(path, "token_file").decode().strip()
        self._stamp = self._stat()

    def _stat(self):
        st = os.stat(self._path)
        return (st.st_mtime_ns, st.st_size)

    def token(self):
        with self._lock:
            try:
                stamp = self._stat()
                if stamp != self._stamp:
                    with open(self._path, "rb") as f:
                        token = f.read().decode().strip()
                    if token:  # empty: a rotation half done; keep the old one
                        self._token, self._stamp = token, stamp
            except OSError:
                pass  # keep the last good token; the next call tries again
            return self._token

    def __call__(self, context, callback):
        callback((("authorization", "Bearer " + self.token()),), None)


def connect(server, tls_ca=None, token_file=None, tls_cert=None, tls_key=None,
            tls_server_name=None, options=()):
    """A grpc.Channel to server ("HOST:PORT") with the credentials above.

    Raises ValueError for an unreadable or empty file, for tls_cert without
    tls_key (or the other way round), for tls_server_name without tls_ca, and
    for a non-loopback server without tls_ca.
    """
    tls_ca = _env(tls_ca, "COLLECTIONS_TLS_CA")
    tls_cert = _env(tls_cert, "COLLECTIONS_TLS_CERT")
    tls_key = _env(tls_key, "COLLECTIONS_TLS_KEY")
    token_file = _env(token_file, "COLLECTIONS_TOKEN_FILE")
    if bool(tls_cert) != bool(tls_key):
        raise ValueError("tls_cert and tls_key go together: give both or neither")
    if tls_server_name and not tls_ca:
        raise ValueError("tls_server_name needs tls_ca")
    options = list(options)
    if tls_ca:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(tls_ca, "tls_ca"),
            private_key=_read(tls_key, "tls_key") if tls_key else None,
            certificate_chain=_read(tls_cert, "tls_cert") if tls_cert else None)
        if tls_server_name:
            options.append(("grpc.ssl_target_name_override", tls_server_name))
    elif _is_loopback(server):
        credentials = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    else:
        raise ValueError(f"{server} is not on this machine: give tls_ca (the CA that "
                         "verifies the server) so that the token is not sent in plaintext")
    if token_file:
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.metadata_call_credentials(TokenFile(token_file)))
    return grpc.secure_channel(server, credentials, options)
