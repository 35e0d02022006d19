//! Values on the command line: a described type as a wRPC type, JSON arguments as values
//! of it, and results as JSON (the shapes `lattice call --help` lists).

use anyhow::{Context as _, bail};
use lattice_proto::wit::WitType;
use lattice_wrpc::value::{Case, Field, Type, Value};
use serde_json::Value as Json;

/// The wRPC type of a described type.
pub(crate) fn wrpc_type(ty: &WitType) -> anyhow::Result<Type> {
    Ok(match ty {
        WitType::Bool => Type::Bool,
        WitType::S8 => Type::S8,
        WitType::U8 => Type::U8,
        WitType::S16 => Type::S16,
        WitType::U16 => Type::U16,
        WitType::S32 => Type::S32,
        WitType::U32 => Type::U32,
        WitType::S64 => Type::S64,
        WitType::U64 => Type::U64,
        WitType::F32 => Type::F32,
        WitType::F64 => Type::F64,
        WitType::Char => Type::Char,
        WitType::String => Type::String,
        WitType::List { element } => Type::list(wrpc_type(element)?),
        WitType::Record { fields } => Type::Record(
            fields
                .iter()
                .map(|f| {
                    Ok(Field {
                        name: f.name.clone(),
                        ty: wrpc_type(&f.ty)?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        ),
        WitType::Tuple { types } => {
            Type::Tuple(types.iter().map(wrpc_type).collect::<anyhow::Result<_>>()?)
        }
        WitType::Variant { cases } => Type::Variant(
            cases
                .iter()
                .map(|c| {
                    Ok(Case {
                        name: c.name.clone(),
                        ty: c.ty.as_ref().map(wrpc_type).transpose()?,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        ),
        WitType::Enum { cases } => Type::Enum(cases.clone()),
        WitType::Option { some } => Type::option(wrpc_type(some)?),
        WitType::Result { ok, err } => Type::result(
            ok.as_deref().map(wrpc_type).transpose()?,
            err.as_deref().map(wrpc_type).transpose()?,
        ),
        WitType::Flags { flags } => Type::Flags(flags.clone()),
        WitType::Own => Type::Own(String::new()),
        WitType::Borrow => Type::Borrow(String::new()),
        WitType::Unsupported { name } => bail!("{name} values cannot be given on the command line"),
    })
}

/// A JSON argument as a value of `ty`: numbers, strings, arrays for lists and tuples,
/// objects for records (`{"field": …}`), `"case"` or `{"case": payload}` for variants,
/// `"case"` for enums, `null` or the value for options, `{"ok": …}` / `{"err": …}` for
/// results, an array of names for flags.
pub(crate) fn from_json(json: &Json, ty: &Type) -> anyhow::Result<Value> {
    let wrong = || anyhow::anyhow!("expected {}, got {json}", type_name(ty));
    let int = || json.as_i64().ok_or_else(wrong);
    let uint = || json.as_u64().ok_or_else(wrong);
    Ok(match ty {
        Type::Bool => Value::Bool(json.as_bool().ok_or_else(wrong)?),
        Type::S8 => Value::S8(int()?.try_into()?),
        Type::U8 => Value::U8(uint()?.try_into()?),
        Type::S16 => Value::S16(int()?.try_into()?),
        Type::U16 => Value::U16(uint()?.try_into()?),
        Type::S32 => Value::S32(int()?.try_into()?),
        Type::U32 => Value::U32(uint()?.try_into()?),
        Type::S64 => Value::S64(int()?),
        Type::U64 => Value::U64(uint()?),
        Type::F32 => Value::F32(json.as_f64().ok_or_else(wrong)? as f32),
        Type::F64 => Value::F64(json.as_f64().ok_or_else(wrong)?),
        Type::Char => {
            let s = json.as_str().ok_or_else(wrong)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Value::Char(c),
                _ => return Err(wrong()),
            }
        }
        Type::String => Value::String(json.as_str().ok_or_else(wrong)?.to_string()),
        Type::List(element) => Value::List(
            json.as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|j| from_json(j, element))
                .collect::<anyhow::Result<_>>()?,
        ),
        Type::Tuple(types) => {
            let items = json.as_array().ok_or_else(wrong)?;
            if items.len() != types.len() {
                return Err(wrong());
            }
            Value::Tuple(
                items
                    .iter()
                    .zip(types)
                    .map(|(j, t)| from_json(j, t))
                    .collect::<anyhow::Result<_>>()?,
            )
        }
        Type::Record(fields) => {
            let object = json.as_object().ok_or_else(wrong)?;
            Value::Record(
                fields
                    .iter()
                    .map(|f| {
                        let j = object.get(&f.name).unwrap_or(&Json::Null);
                        from_json(j, &f.ty).with_context(|| format!("field `{}`", f.name))
                    })
                    .collect::<anyhow::Result<_>>()?,
            )
        }
        Type::Variant(cases) => {
            let (name, payload) = match json {
                Json::String(name) => (name.as_str(), None),
                Json::Object(o) if o.len() == 1 => {
                    let (k, v) = o.iter().next().expect("one entry");
                    (k.as_str(), Some(v))
                }
                _ => return Err(wrong()),
            };
            let index = cases
                .iter()
                .position(|c| c.name == name)
                .ok_or_else(wrong)?;
            let payload = match (&cases[index].ty, payload) {
                (Some(t), Some(j)) => Some(Box::new(from_json(j, t)?)),
                (None, _) => None,
                (Some(_), None) => return Err(wrong()),
            };
            Value::Variant {
                case: index as u32,
                payload,
            }
        }
        Type::Enum(cases) => {
            let name = json.as_str().ok_or_else(wrong)?;
            Value::Enum(cases.iter().position(|c| c == name).ok_or_else(wrong)? as u32)
        }
        Type::Option(some) => match json {
            Json::Null => Value::Option(None),
            other => Value::Option(Some(Box::new(from_json(other, some)?))),
        },
        Type::Result { ok, err } => {
            let object = json
                .as_object()
                .filter(|o| o.len() == 1)
                .ok_or_else(wrong)?;
            let side = |t: &Option<Box<Type>>, j: &Json| -> anyhow::Result<Option<Box<Value>>> {
                t.as_deref()
                    .map(|t| from_json(j, t).map(Box::new))
                    .transpose()
            };
            match (object.get("ok"), object.get("err")) {
                (Some(j), None) => Value::Result(Ok(side(ok, j)?)),
                (None, Some(j)) => Value::Result(Err(side(err, j)?)),
                _ => return Err(wrong()),
            }
        }
        Type::Own(_) => Value::Own(handle(json).ok_or_else(wrong)?),
        Type::Borrow(_) => Value::Borrow(handle(json).ok_or_else(wrong)?),
        Type::Flags(flags) => {
            let set: Vec<&str> = json
                .as_array()
                .ok_or_else(wrong)?
                .iter()
                .map(|j| j.as_str().ok_or_else(wrong))
                .collect::<anyhow::Result<_>>()?;
            Value::Flags(flags.iter().map(|f| set.contains(&f.as_str())).collect())
        }
        _ => bail!(
            "{} values cannot be given on the command line",
            type_name(ty)
        ),
    })
}

/// A result value as JSON (the shapes [`from_json`] takes).
pub(crate) fn to_json(value: &Value, ty: &Type) -> Json {
    use serde_json::json;
    match (value, ty) {
        (Value::Bool(v), _) => json!(v),
        (Value::S8(v), _) => json!(v),
        (Value::U8(v), _) => json!(v),
        (Value::S16(v), _) => json!(v),
        (Value::U16(v), _) => json!(v),
        (Value::S32(v), _) => json!(v),
        (Value::U32(v), _) => json!(v),
        (Value::S64(v), _) => json!(v),
        (Value::U64(v), _) => json!(v),
        (Value::F32(v), _) => json!(v),
        (Value::F64(v), _) => json!(v),
        (Value::Char(v), _) => json!(v.to_string()),
        (Value::String(v), _) => json!(v),
        (Value::Bytes(b), _) => json!(b.to_vec()),
        (Value::List(items), Type::List(element)) => {
            Json::Array(items.iter().map(|v| to_json(v, element)).collect())
        }
        (Value::Tuple(items), Type::Tuple(types)) => Json::Array(
            items
                .iter()
                .zip(types)
                .map(|(v, t)| to_json(v, t))
                .collect(),
        ),
        (Value::Record(items), Type::Record(fields)) => Json::Object(
            items
                .iter()
                .zip(fields)
                .map(|(v, f)| (f.name.clone(), to_json(v, &f.ty)))
                .collect(),
        ),
        (Value::Variant { case, payload }, Type::Variant(cases)) => {
            let case_type = &cases[*case as usize];
            match (payload, &case_type.ty) {
                (Some(v), Some(t)) => json!({ case_type.name.clone(): to_json(v, t) }),
                _ => json!(case_type.name),
            }
        }
        (Value::Enum(i), Type::Enum(cases)) => json!(cases[*i as usize]),
        (Value::Option(None), _) => Json::Null,
        (Value::Option(Some(v)), Type::Option(some)) => to_json(v, some),
        (Value::Result(r), Type::Result { ok, err }) => {
            let side = |v: &Option<Box<Value>>, t: &Option<Box<Type>>| match (v, t) {
                (Some(v), Some(t)) => to_json(v, t),
                _ => Json::Null,
            };
            match r {
                Ok(v) => json!({"ok": side(v, ok)}),
                Err(v) => json!({"err": side(v, err)}),
            }
        }
        (Value::Flags(set), Type::Flags(flags)) => Json::Array(
            flags
                .iter()
                .zip(set)
                .filter(|(_, on)| **on)
                .map(|(f, _)| json!(f))
                .collect(),
        ),
        (Value::Own(handle) | Value::Borrow(handle), _) => {
            json!(
                handle
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            )
        }
        (other, _) => json!(format!("{other:?}")),
    }
}

/// A resource handle given as hex (as [`to_json`] shows one).
fn handle(json: &Json) -> Option<bytes::Bytes> {
    let hex = json.as_str()?;
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect::<Option<Vec<u8>>>()
        .map(bytes::Bytes::from)
}

fn type_name(ty: &Type) -> String {
    format!("{ty:?}").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_handles_are_given_and_shown_as_hex() {
        let handle = Value::Own(bytes::Bytes::from_static(&[0x01, 0xab, 0xff]));
        let ty = Type::Own(String::new());
        let json = to_json(&handle, &ty);
        assert_eq!(json, serde_json::json!("01abff"));
        assert_eq!(from_json(&json, &ty).unwrap(), handle);
        let borrowed = from_json(&json, &Type::Borrow(String::new())).unwrap();
        assert_eq!(
            borrowed,
            Value::Borrow(bytes::Bytes::from_static(&[0x01, 0xab, 0xff]))
        );
        assert!(from_json(&serde_json::json!("abc"), &ty).is_err());
        assert!(from_json(&serde_json::json!("zz"), &ty).is_err());
    }

    #[test]
    fn json_arguments_round_trip_through_values() {
        let ty = Type::record([
            ("n", Type::U32),
            ("tags", Type::list(Type::String)),
            (
                "shape",
                Type::variant([("circle", Some(Type::F64)), ("none", None)]),
            ),
            ("maybe", Type::option(Type::S8)),
            ("outcome", Type::result(Some(Type::U8), Some(Type::String))),
            ("perms", Type::Flags(vec!["read".into(), "write".into()])),
        ]);
        let json = serde_json::json!({"n": 7, "tags": ["a"], "shape": {"circle": 1.5}, "maybe": null, "outcome": {"err": "no"}, "perms": ["write"]});
        let value = from_json(&json, &ty).unwrap();
        assert_eq!(to_json(&value, &ty), json);
        assert!(from_json(&serde_json::json!({"n": -1}), &ty).is_err());
    }
}
