"""How big the five images are, and how much of them they share (scripts/images.sh prints it).

    python -m tests.images.sizes TAG

Layers are compared by their content digests: the layers the five images have in common
(the base, the user, every component's dependencies) are stored once on a node that runs
several of them; each image adds its own (the component's packages).
"""

from __future__ import annotations

import json
import sys

from tests.deploy.chart import COMPONENTS
from tests.images.podman import inspect, podman

MB = 1_000_000


def layers(image: str) -> list[tuple[str, int]]:
    """(content digest, size in bytes) of the image's layers, bottom first: the image's
    history says which steps made a layer, `podman history` how big each step is."""
    data = inspect(image, "image")
    digests: list[str] = data["RootFS"]["Layers"]
    steps = data["History"]
    sized = list(reversed(json.loads(podman("history", "--format", "json", image))))
    assert len(sized) == len(steps), f"{image}: the two histories differ"
    sizes = [
        int(s["size"]) for step, s in zip(steps, sized, strict=True) if not step.get("empty_layer")
    ]
    assert len(sizes) == len(digests), f"{image}: {len(sizes)} sized steps, {len(digests)} layers"
    return list(zip(digests, sizes, strict=True))


def report(tag: str) -> str:
    images = {component: f"localhost/salesguard-{component}:{tag}" for component in COMPONENTS}
    found = {component: layers(image) for component, image in images.items()}
    common = set.intersection(*({digest for digest, _ in each} for each in found.values()))
    shared = sum(size for digest, size in next(iter(found.values())) if digest in common)
    lines = [f"images: the five share {len(common)} layers, {shared / MB:.0f} MB"]
    unique = shared
    for component, image_layers in found.items():
        total = inspect(images[component], "image")["Size"]
        own = sum(size for digest, size in image_layers if digest not in common)
        unique += own
        lines.append(
            f"images:   {images[component]}: {total / MB:.0f} MB, its own layers {own / MB:.1f} MB"
        )
    lines.append(f"images: all five stored once: {unique / MB:.0f} MB")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1]))
