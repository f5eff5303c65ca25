"""GPU resource names and the products each offers, as policy.yaml's `gpu:` section lists them."""
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
