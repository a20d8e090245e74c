"""TLS for registries, as containers/image sets it up.

Verified by default against the system CAs plus the ``*.crt`` files of the
host's certificate directory: ``--cert-dir`` when given, else
``/etc/containers/certs.d/HOST[:PORT]``, ``~/.config/containers/certs.d/...``
and ``/etc/docker/certs.d/...``.  A ``NAME.cert``/``NAME.key`` pair there is
a client certificate.  ``tls_verify=False`` turns verification off (and lets
the client fall back to plain HTTP, see client.py).
"""

from __future__ import annotations

import glob
import os
import ssl

from lighter.errors import InvalidInputError

SYSTEM_CERT_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")


def cert_dirs(host: str, cert_dir: str | None) -> list[str]:
    """The directories whose certificates apply to ``host`` (``--cert-dir`` replaces the defaults)."""
    if cert_dir:
        return [cert_dir]
    user = os.path.join(os.path.expanduser("~"), ".config", "containers", "certs.d")
    candidates = [os.path.join(base, host) for base in (user, *SYSTEM_CERT_DIRS)]
    return [d for d in candidates if os.path.isdir(d)]


def ssl_context(host: str, verify: bool, cert_dir: str | None) -> ssl.SSLContext:
    """An SSL context for ``host``: verifying with the extra CAs, or not verifying at all."""
    if verify:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        # Nothing will be verified: skip the system CA bundle, whose parsing (and freeing)
        # costs ~40 ms per client, twice per registry-to-registry copy.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    for directory in cert_dirs(host, cert_dir):
        _load_dir(context, directory, verify)
    return context


def _load_dir(context: ssl.SSLContext, directory: str, verify: bool) -> None:
    if not os.path.isdir(directory):
        raise InvalidInputError(f"certificate directory {directory} does not exist")
    for path in sorted(glob.glob(os.path.join(directory, "*.crt"))):
        if verify:
            try:
                context.load_verify_locations(cafile=path)
            except (ssl.SSLError, ValueError) as exc:
                raise InvalidInputError(f"cannot load CA certificate {path}: {exc}") from None
    for cert in sorted(glob.glob(os.path.join(directory, "*.cert"))):
        key = cert[: -len(".cert")] + ".key"
        if not os.path.exists(key):
            raise InvalidInputError(f"client certificate {cert} has no matching key {key}")
        try:
            context.load_cert_chain(cert, key)
        except (ssl.SSLError, ValueError) as exc:
            raise InvalidInputError(f"cannot load client certificate {cert}: {exc}") from None
