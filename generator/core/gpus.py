"""GPU resource names and the products each offers, as policy.yaml's `gpu:` section lists them."""
import difflib

from generator.core.schemas import policy


def gpu_resources() -> set[str]:
    gpu = policy()["gpu"]
    return {gpu["resource"], *gpu["special_resources"]}


def fitting_products(gpu: dict, resource: str, products: set[str]) -> set[str]:
    """Those of the GPU products whose nodes offer them under this resource name (policy.yaml `gpu:`):
    products listed under a special resource are offered only there, the rest as gpu.resource."""
    offered = {name: set(info["products"]) for name, info in gpu["special_resources"].items() if info.get("products")}
    if resource == gpu["resource"]:
        return products - set().union(*offered.values())
    return products & offered.get(resource, products)


def offering(gpu: dict, products: set[str]) -> list[str]:
    """The resource names known to offer some of these products: gpu.resource or special ones listing them."""
    listed = [name for name, info in gpu["special_resources"].items() if info.get("products")]
    return [name for name in (gpu["resource"], *listed) if fitting_products(gpu, name, products)]


def resource_names(resource: str) -> set[str]:
    return gpu_resources() if resource == "gpu" else {resource}


def unknown_product(product: str) -> tuple[str, str]:
    """(what, hint) for a product policy.yaml does not list: the nearest listed products, else all of them."""
    products = policy()["gpu"]["products"]
    near = nearest(product, products)
    hint = f"did you mean {' or '.join(near)}?" if near else f"NRP offers {', '.join(products)}"
    return f"{product} is not a GPU product NRP offers", hint


def nearest(word: str, choices: list[str], cutoff: float = 0.6, margin: float = 0.05) -> list[str]:
    """The choices closest to word (difflib's ratio at least cutoff, within margin of the best), best first."""
    close = difflib.get_close_matches(word, choices, n=len(choices), cutoff=cutoff)
    best = difflib.SequenceMatcher(None, word, close[0]).ratio() if close else 0
    return [c for c in close if difflib.SequenceMatcher(None, word, c).ratio() >= best - margin][:3]
