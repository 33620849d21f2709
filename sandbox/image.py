"""The docker backend's image, built locally from a small tarball (no registry is reachable).

Built and run through the Docker SDK for Python (`sandbox.container`). The image is almost
empty: mount points, the library symlinks of this host's merged /usr, and a passwd naming
`nobody`. Python, the C library and the dialects are bind-mounted
read-only from the host at run time (see `sandbox.backends.Docker`), so the image never goes
stale when the project changes. Its tag is a hash of its contents.

    python -c "from sandbox.image import build_image; print(build_image())"
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

ROOT_LINKS = ("/lib", "/lib32", "/lib64", "/libx32")  # where the dynamic loader looks
DIRECTORIES = ("tmp", "proc", "sys", "dev", "etc", "root", "usr", "home", "work", "sbin")
FILES = {
    "etc/passwd": b"root:x:0:0:root:/root:/usr/sbin/nologin\n"
    b"nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n",
    "etc/group": b"root:x:0:\nnogroup:x:65534:\n",
}


def host_root_links() -> dict[str, str]:
    """Top-level library and binary folders of this host: symlink target, or "" for a real
    folder (which must then be bind-mounted). Missing ones are left out."""
    found = {}
    for path in ROOT_LINKS:
        if os.path.islink(path):
            found[path] = os.readlink(path)
        elif os.path.isdir(path):
            found[path] = ""
    return found


def image_tarball() -> bytes:
    """A reproducible tarball of the image's root filesystem."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in DIRECTORIES:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for link, target in host_root_links().items():
            if target:
                info = tarfile.TarInfo(link.lstrip("/"))
                info.type, info.linkname = tarfile.SYMTYPE, target
                tar.addfile(info)
        for name, content in FILES.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


IMAGE = f"agent-sandbox:{hashlib.sha256(image_tarball()).hexdigest()[:12]}"


def build_image() -> str:
    """Import the image into the local docker daemon (through the Docker SDK) unless it is
    there already, and drop the images of earlier layouts."""
    import docker

    from sandbox.container import client

    api = client().api
    repository, tag = IMAGE.split(":")
    try:
        api.inspect_image(IMAGE)
    except docker.errors.ImageNotFound:
        api.import_image_from_data(image_tarball(), repository=repository, tag=tag)
    for image in api.images(name=repository):
        for stale in image.get("RepoTags") or []:
            if stale.startswith(f"{repository}:") and stale != IMAGE:
                api.remove_image(stale)
    return IMAGE
