"""Credential detection: what it names for each value, and the look-alikes it must leave alone."""
import pytest

from generator.policy.secrets import credentials

RANDOM = "a long random value under a secret-like name"
CASES = [
    ("WANDB_API_KEY", "3f1c9a7e5b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e", [RANDOM]),
    ("HF_TOKEN", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", ["a Hugging Face token"]),
    ("anything", "token=ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", ["a GitHub token"]),
    ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", ["an AWS access key id"]),
    ("OPENAI_API_KEY", "sk-proj-Zx81kQ2pL9mW4vB7nT3cR6yHa1b2c3d4", ["an OpenAI-style key"]),
    ("id_rsa", "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n", ["a private key"]),
    ("awsSecretAccessKey", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", [RANDOM]),
    ("settings.env", "EPOCHS=3\nexport DB_PASSWORD='Q7v2Lx9Rk4Tz8Wp1'\n", ["a long random value under DB_PASSWORD"]),
    ("config.yaml", "lr: 0.0002\nclient_secret: 9fK2mQ7xL4vR8tZ1\n", ["a long random value under client_secret"]),
    # look-alikes
    ("TOKENIZERS_PARALLELISM", "false", []),
    ("HF_TOKEN_PATH", "/data/secrets/huggingface/token-2024.txt", []),
    ("WANDB_SECRET_NAME", "gp-engine-lab-wandb-credentials", []),
    ("GIT_COMMIT", "3f1c9a7e5b2d4c6e8f0a1b3c5d7e9f1a2b4c6d8e", []),
    ("API_KEY", "${API_KEY_FROM_SECRET_VOLUME}", []),
    ("TOKEN_URL", "https://auth.example.org/token?client=lab1234", []),
    ("PASSWORD", "correct horse battery staple 1", []),
    ("SECRET", "aaaaaaaaaaaaaaaa1", []),
    ("API_KEY", "short1", []),
    ("train.yaml", "dataset: {name: horse2zebra}\ntrain: {epochs: 100}\n", []),
    ("API_KEY", 12345678901234567890, []),
]


@pytest.mark.parametrize("name, value, found", CASES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_credentials(name, value, found):
    assert credentials(name, value) == found
