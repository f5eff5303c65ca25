"""The trainer image's code: data stage, DDP CycleGAN training, inference."""
