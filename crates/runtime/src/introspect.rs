//! What a component imports and exports, with wasmtime's types, so that a caller
//! (the CLI, the wRPC glue) can type arguments from the real signature.

use wasmtime::Engine;
use wasmtime::component::types::{ComponentExtern, ComponentFunc, ComponentItem};
use wasmtime::component::{Component, types::Type};

/// One imported or exported item: a function (or resource, type, module…) either
/// at the top level (`instance: None`) or inside an instance (an interface such as
/// `wasi:http/incoming-handler@0.2.0`).
#[derive(Debug, Clone)]
pub struct ItemSignature {
    /// The instance (interface) the item is in, if any.
    pub instance: Option<String>,
    /// The item's name.
    pub name: String,
    /// Its type.
    pub item: ComponentItem,
}

impl ItemSignature {
    /// The function type, if the item is a function.
    pub fn func(&self) -> Option<&ComponentFunc> {
        match &self.item {
            ComponentItem::ComponentFunc(func) => Some(func),
            _ => None,
        }
    }

    /// Parameter names and types, if the item is a function.
    pub fn params(&self) -> Option<Vec<(String, Type)>> {
        self.func().map(|func| {
            func.params()
                .map(|(name, ty)| (name.to_owned(), ty))
                .collect()
        })
    }

    /// Result types, if the item is a function.
    pub fn results(&self) -> Option<Vec<Type>> {
        self.func().map(|func| func.results().collect())
    }
}

/// A component's imports and exports, instances flattened one level.
#[derive(Debug, Clone, Default)]
pub struct ComponentSignatures {
    /// What the component imports.
    pub imports: Vec<ItemSignature>,
    /// What the component exports.
    pub exports: Vec<ItemSignature>,
}

impl ComponentSignatures {
    /// Reads the signatures of `component` (compiled for `engine`).
    pub fn of(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        Self {
            imports: flatten(engine, ty.imports(engine)),
            exports: flatten(engine, ty.exports(engine)),
        }
    }

    /// The exported function `func` of `instance` (`None`: a top-level export).
    pub fn export_func(&self, instance: Option<&str>, func: &str) -> Option<&ItemSignature> {
        self.exports.iter().find(|item| {
            item.instance.as_deref() == instance && item.name == func && item.func().is_some()
        })
    }

    /// Every exported function.
    pub fn export_funcs(&self) -> impl Iterator<Item = &ItemSignature> {
        self.exports.iter().filter(|item| item.func().is_some())
    }

    /// Every imported function.
    pub fn import_funcs(&self) -> impl Iterator<Item = &ItemSignature> {
        self.imports.iter().filter(|item| item.func().is_some())
    }
}

fn flatten<'a>(
    engine: &Engine,
    items: impl Iterator<Item = (&'a str, ComponentExtern<'a>)>,
) -> Vec<ItemSignature> {
    let mut out = Vec::new();
    for (name, item) in items {
        match item.ty {
            ComponentItem::ComponentInstance(instance) => {
                out.extend(instance.exports(engine).map(|(inner, item)| ItemSignature {
                    instance: Some(name.to_owned()),
                    name: inner.to_owned(),
                    item: item.ty,
                }));
            }
            item => out.push(ItemSignature {
                instance: None,
                name: name.to_owned(),
                item,
            }),
        }
    }
    out
}
