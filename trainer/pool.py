"""History of generated images (Shrivastava et al.), as the reference: the discriminator sees a mix of
fresh fakes and older ones, which damps oscillation. One pool per rank, with its own RNG so it checkpoints."""
import random

import torch


class ImagePool:
    def __init__(self, size: int, seed: int | str):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return batch
        out = []
        for image in batch.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:  # filling up: store and return the new image
                self.images.append(image.clone())
                out.append(image)
            elif self.rng.random() > 0.5:  # swap: return a stored image, keep the new one in its place
                i = self.rng.randint(0, self.size - 1)
                out.append(self.images[i])
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {"images": [t.cpu() for t in self.images], "rng": self.rng.getstate()}

    def load_state_dict(self, state: dict, device=None) -> None:
        self.images = [t.to(device) for t in state["images"]]
        self.rng.setstate(state["rng"])
