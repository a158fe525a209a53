"""Reading and writing mesh files: located YAML, the ODPS and ODCS documents, meshplane's own files."""

from meshplane.spec.loader import LoadResult, load_mesh
from meshplane.spec.models import (
    AccessLevel,
    ColumnSpec,
    ContractSpec,
    DomainSpec,
    InputPortSpec,
    MaskKind,
    MeshSpec,
    OutputPortSpec,
    ProductSpec,
    SourceServer,
    TransformSpec,
)
from meshplane.spec.yamlsafe import YamlDocument, read_yaml

__all__ = [
    "AccessLevel",
    "ColumnSpec",
    "ContractSpec",
    "DomainSpec",
    "InputPortSpec",
    "LoadResult",
    "MaskKind",
    "MeshSpec",
    "OutputPortSpec",
    "ProductSpec",
    "SourceServer",
    "TransformSpec",
    "YamlDocument",
    "load_mesh",
    "read_yaml",
]
