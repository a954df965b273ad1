//! kiln-macros: `#[kiln::main]` and `#[kiln::test]`, which build a kiln runtime and run an
//! `async fn` on it. Use them through the `kiln` facade (`#[kiln::main]`, `#[kiln::test]`);
//! the expansion names `::kiln`, so the crate using them must depend on `kiln`.
//!
//! # Arguments (both attributes)
//! - `flavor = "current_thread" | "multi_thread"`: `Builder::new_current_thread()` or
//!   `Builder::new_multi_thread()`. Default: `multi_thread` for `main`, `current_thread` for
//!   `test` (one thread per test, deterministic with `start_paused`).
//! - `worker_threads = N` (N ≥ 1): `Builder::worker_threads(N)`; multi-thread flavor only.
//! - `start_paused = true | false`: `Builder::start_paused`; current-thread flavor only.
//!
//! Anything else is a compile error naming the mistake: a function that is not `async`, an
//! unknown or repeated argument, a value of the wrong type, an argument that does not apply
//! to the chosen flavor, a function with parameters or generics.
//!
//! # Expansion
//! ```text
//! #[kiln::test(start_paused = true)]        #[test]
//! async fn f() -> R { body }          =>    fn f() -> R {
//!                                               let body = async { body };
//!                                               kiln::Builder::new_current_thread()
//!                                                   .start_paused(true)
//!                                                   .build()
//!                                                   .expect(..)
//!                                                   .block_on(body)
//!                                           }
//! ```

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, Meta, Token};

/// Runs an `async fn main` on a kiln runtime (multi-thread unless told otherwise).
///
/// ```
/// #[kiln::main(worker_threads = 2)]
/// async fn main() {
///     let answer = kiln::spawn(async { 6 * 7 }).await.unwrap();
///     assert_eq!(answer, 42);
/// }
/// ```
///
/// `main` may return what a plain `main` may, such as `Result<(), E>`:
///
/// ```
/// #[kiln::main(flavor = "current_thread")]
/// async fn main() -> Result<(), std::num::ParseIntError> {
///     let n: u32 = "7".parse()?;
///     assert_eq!(n, 7);
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Main, args.into(), item.into()).into()
}

/// Runs an `async fn` test on its own kiln runtime (current-thread unless told otherwise).
///
/// ```
/// #[kiln::test(start_paused = true)]
/// async fn an_hour_passes_at_once() {
///     let start = kiln::time::now();
///     kiln::time::sleep(std::time::Duration::from_secs(3600)).await;
///     assert!(kiln::time::now() - start >= std::time::Duration::from_secs(3600));
/// }
/// ```
///
/// Generated tests are compiled only under `cargo test`; this crate's `tests/` run examples.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Kind::Test, args.into(), item.into()).into()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn attr(self) -> &'static str {
        match self {
            Kind::Main => "#[kiln::main]",
            Kind::Test => "#[kiln::test]",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

/// The parsed arguments, each with the span to blame.
#[derive(Default)]
struct Args {
    flavor: Option<(Flavor, Span)>,
    worker_threads: Option<(usize, Span)>,
    start_paused: Option<(bool, Span)>,
}

const EXPECTED: &str = "expected `flavor = \"current_thread\" | \"multi_thread\"`, \
                        `worker_threads = N` or `start_paused = true | false`";

fn expand(kind: Kind, args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => {
            let msg = format!("{} applies to an `async fn`", kind.attr());
            return with_item(syn::Error::new(e.span(), msg), item);
        }
    };
    match parse_args(kind, args).and_then(|args| generate(kind, &args, func.clone())) {
        Ok(tokens) => tokens,
        Err(e) => with_item(e, placeholder(func)),
    }
}

/// The function without `async` and with a diverging body: emitted after an error so that
/// one mistake does not cascade into "cannot find function" or "`main` is async" errors.
fn placeholder(mut func: ItemFn) -> TokenStream2 {
    func.sig.asyncness = None;
    *func.block = syn::parse_quote!({ ::core::unreachable!() });
    quote!(#func)
}

/// The error, followed by the item (so one mistake does not cascade into
/// "cannot find function" errors elsewhere).
fn with_item(e: syn::Error, item: TokenStream2) -> TokenStream2 {
    let e = e.to_compile_error();
    quote!(#e #item)
}

fn parse_args(kind: Kind, args: TokenStream2) -> syn::Result<Args> {
    let metas = syn::parse::Parser::parse2(Punctuated::<Meta, Token![,]>::parse_terminated, args)?;
    let mut out = Args::default();
    for meta in metas {
        let nv = match meta {
            Meta::NameValue(nv) => nv,
            other => {
                let name = other.path().get_ident().map(|i| i.to_string());
                let msg = match name.as_deref() {
                    Some(n @ ("flavor" | "worker_threads" | "start_paused")) => {
                        format!("`{n}` needs a value, e.g. `{n} = ...`; {EXPECTED}")
                    }
                    _ => format!("unknown argument to {}; {EXPECTED}", kind.attr()),
                };
                return Err(syn::Error::new(other.span(), msg));
            }
        };
        let name = nv
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        let span = nv.span();
        match name.as_str() {
            "flavor" => {
                let s = lit_str(&nv.value, "flavor")?;
                let flavor = match s.as_str() {
                    "current_thread" => Flavor::CurrentThread,
                    "multi_thread" => Flavor::MultiThread,
                    other => {
                        return Err(syn::Error::new(
                            nv.value.span(),
                            format!(
                                "unknown flavor `{other}`; expected \"current_thread\" or \
                                 \"multi_thread\""
                            ),
                        ))
                    }
                };
                set(&mut out.flavor, flavor, span, "flavor")?;
            }
            "worker_threads" => {
                let n = lit_int(&nv.value)?;
                set(&mut out.worker_threads, n, span, "worker_threads")?;
            }
            "start_paused" => {
                let b = lit_bool(&nv.value)?;
                set(&mut out.start_paused, b, span, "start_paused")?;
            }
            _ => {
                return Err(syn::Error::new(
                    nv.path.span(),
                    format!(
                        "unknown argument `{}` to {}; {EXPECTED}",
                        path_str(&nv.path),
                        kind.attr()
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn path_str(p: &syn::Path) -> String {
    quote!(#p).to_string().replace(' ', "")
}

fn set<T>(slot: &mut Option<(T, Span)>, v: T, span: Span, name: &str) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(span, format!("`{name}` is given twice")));
    }
    *slot = Some((v, span));
    Ok(())
}

fn lit_str(e: &Expr, name: &str) -> syn::Result<String> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        _ => Err(syn::Error::new(
            e.span(),
            format!("`{name}` takes a string: \"current_thread\" or \"multi_thread\""),
        )),
    }
}

fn lit_int(e: &Expr) -> syn::Result<usize> {
    let err = || {
        syn::Error::new(
            e.span(),
            "`worker_threads` takes a positive integer literal, e.g. `worker_threads = 4`",
        )
    };
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(err()),
        },
        _ => Err(err()),
    }
}

fn lit_bool(e: &Expr) -> syn::Result<bool> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.value),
        _ => Err(syn::Error::new(
            e.span(),
            "`start_paused` takes `true` or `false`",
        )),
    }
}

fn generate(kind: Kind, args: &Args, func: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!(
                "{} needs an `async fn`: the `async` keyword is missing from this function",
                kind.attr()
            ),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new(
            sig.inputs.span(),
            format!("{} functions take no arguments", kind.attr()),
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("{} functions cannot be generic", kind.attr()),
        ));
    }
    if kind == Kind::Test {
        if let Some(attr) = func.attrs.iter().find(|a| a.path().is_ident("test")) {
            return Err(syn::Error::new(
                attr.span(),
                "#[kiln::test] already adds #[test]; remove this one",
            ));
        }
    }
    let default = match kind {
        Kind::Main => Flavor::MultiThread,
        Kind::Test => Flavor::CurrentThread,
    };
    let flavor = args.flavor.map_or(default, |(f, _)| f);
    let mut build = match flavor {
        Flavor::CurrentThread => quote!(::kiln::Builder::new_current_thread()),
        Flavor::MultiThread => quote!(::kiln::Builder::new_multi_thread()),
    };
    if let Some((n, span)) = args.worker_threads {
        if flavor != Flavor::MultiThread {
            return Err(syn::Error::new(
                span,
                format!(
                    "`worker_threads` needs the multi-thread flavor: add \
                     `flavor = \"multi_thread\"` to {}",
                    kind.attr()
                ),
            ));
        }
        build = quote!(#build.worker_threads(#n));
    }
    if let Some((paused, span)) = args.start_paused {
        if flavor != Flavor::CurrentThread {
            return Err(syn::Error::new(
                span,
                "`start_paused` needs `flavor = \"current_thread\"`: a multi-thread runtime \
                 cannot auto-advance a paused clock",
            ));
        }
        build = quote!(#build.start_paused(#paused));
    }

    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = func;
    sig.asyncness = None;
    let output = match &sig.output {
        syn::ReturnType::Default => quote!(()),
        syn::ReturnType::Type(_, ty) => quote!(#ty),
    };
    let test_attr = match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    let what = kind.attr();
    let body = quote_spanned! {block.span()=>
        let body = async #block;
        // Names the output type, so `?` in the body infers its error type.
        let body: ::core::pin::Pin<&mut dyn ::core::future::Future<Output = #output>> =
            ::core::pin::pin!(body);
        #build
            .build()
            .expect(concat!(#what, ": could not build the kiln runtime"))
            .block_on(body)
    };
    Ok(quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            #body
        }
    })
}
