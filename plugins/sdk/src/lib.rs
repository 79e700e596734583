//! Guest SDK for prova circuit adapters.
//!
//! Most teams write only their rollup: implement [`groth16::Rollup`] (witness, replay, circuit,
//! sample) and export the kit's adapter with
//! `prova_guest::export_adapter!(prova_guest::groth16::Groth16<YourRollup>)`. The arkworks crates
//! the kit speaks are re-exported (`prova_guest::ark_r1cs_std`, ...), so the SDK is the one
//! dependency and its versions are the ones the kit was tested with.
//!
//! A hand-written adapter implements [`Adapter`] (the exported `adapter` interface of `wit/adapter.wit`) and
//! calls [`export_adapter!`]. It reaches the host's native kernels through [`kernels`], which
//! speaks arkworks types and hides the wire encoding, and its proving key through [`keys`].
//!
//! Nothing here keeps state between jobs: the host gives every job a fresh instance.
//!
//! Built for any target but `wasm32` (a team's `cargo test`), the same calls run in-process:
//! the kernels on arkworks and the keys from a set the test installs ([`native::install_keys`],
//! typically the adapter's own `setup` output), so an adapter is tested without a host.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "circuit-adapter",
        pub_export_macro: true,
        export_macro_name: "__export_circuit_adapter",
        default_bindings_module: "prova_guest::bindings",
    });
}

pub use bindings::exports::prova::adapter::adapter::Guest as Adapter;
pub use bindings::prova::adapter::types::{
    AdapterError, AdapterInfo, BatchStatement, Claim, KeyData, KeySection, ResourceRequest, Stage, Verifier,
};
pub use {ark_bn254, ark_ec, ark_ff, ark_r1cs_std, ark_relations, ark_serialize};

/// The WIT package version this SDK was generated from; adapters report it in `metadata`. It
/// is the crate's own version (one place states it; a test checks it against the WIT file).
pub const WIT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    #[test]
    fn the_crate_version_is_the_wit_package_version() {
        let wit = include_str!("../../../wit/adapter.wit");
        let package = wit.lines().find_map(|l| l.trim().strip_prefix("package prova:adapter@")).expect("a package line");
        assert_eq!(package.trim_end_matches(';'), super::WIT_VERSION);
    }

    /// The in-process host refuses what the real host refuses, in its words.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_native_host_refuses_what_the_host_refuses() {
        use ark_bn254::{Fr, G1Affine};
        use ark_ec::AffineRepr;

        use crate::kernels::{self, Ntt};
        use crate::{KeyData, KeySection, keys, native};

        let g = prova_codec::g1s_to_limbs(&[G1Affine::generator(); 2]);
        let section = |name: &str| KeySection { name: name.into(), data: KeyData::G1Points(g.clone()) };
        let e = native::install_keys(vec![section("a"), section("a")]).unwrap_err();
        assert!(format!("{e:?}").contains("appears twice"), "{e:?}");
        native::install_keys(vec![section("a")]).unwrap();
        let bases = keys::g1("a").unwrap();
        assert_eq!(kernels::msm_g1(&bases, 0, &[Fr::from(2u64), Fr::from(3u64)]).unwrap(), G1Affine::generator() * Fr::from(5u64));
        let e = kernels::msm_g1(&bases, usize::MAX, &[Fr::from(1u64)]).unwrap_err();
        assert!(format!("{e:?}").contains("1 scalars from base 18446744073709551615 overrun the 2 resident bases"), "{e:?}");
        let e = keys::g2("a").err().expect("a G1 section is not G2");
        assert!(format!("{e:?}").contains("a (as G2 points)"), "{e:?}");
        let e = kernels::ntt(&mut vec![Fr::from(1u64); 3], Ntt::Forward).unwrap_err();
        assert!(format!("{e:?}").contains("NTT length 3 is not a power of two"), "{e:?}");
        let e = kernels::ntt(&mut vec![Fr::from(1u64); 4], Ntt::CosetForward(Fr::from(0u64))).unwrap_err();
        assert!(format!("{e:?}").contains("coset offset is zero"), "{e:?}");
        native::remove_keys();
        assert!(format!("{:?}", keys::bytes("a").unwrap_err()).contains("install_keys"));
    }
}

/// Exports `$t: Adapter` as the component's `adapter` interface: a hand-written adapter type, or
/// the kit's `prova_guest::groth16::Groth16<YourRollup>`. Natively (a team's `cargo test`) there
/// is no component ABI and it exports nothing.
#[macro_export]
macro_rules! export_adapter {
    ($t:ty) => {
        // An alias, because the generated export macro takes a type name.
        #[cfg(target_arch = "wasm32")]
        type __ProvaExportedAdapter = $t;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_circuit_adapter!(__ProvaExportedAdapter with_types_in $crate::bindings);
        // Natively, still name the adapter, so that it is checked and not dead code.
        #[cfg(not(target_arch = "wasm32"))]
        const _: fn() -> $crate::AdapterInfo = <$t as $crate::Adapter>::metadata;
    };
}

pub mod groth16;

/// MSM and NTT on arkworks: the in-process host of native builds, and the guest-side kernels of
/// the `guest-kernels` benchmark build.
#[cfg(any(not(target_arch = "wasm32"), feature = "guest-kernels"))]
mod arkworks {
    use ark_bn254::Fr;
    use ark_ec::{AffineRepr, VariableBaseMSM};
    use ark_poly::{EvaluationDomain, Radix2EvaluationDomain};

    use crate::AdapterError;
    use crate::kernels::Ntt;

    /// `sum scalars[i] * bases[start + i]`, refusing a range outside the bases as the host does.
    pub(crate) fn msm<A: AffineRepr<ScalarField = Fr>>(bases: &[A], start: usize, scalars: &[Fr]) -> Result<A::Group, AdapterError>
    where
        A::Group: VariableBaseMSM<MulBase = A, ScalarField = Fr>,
    {
        let n = scalars.len();
        let range = start.checked_add(n).and_then(|end| bases.get(start..end)).ok_or_else(|| {
            AdapterError::Internal(format!(
                "host kernel refused input: {n} scalars from base {start} overrun the {} resident bases",
                bases.len()
            ))
        })?;
        Ok(A::Group::msm_unchecked(range, scalars))
    }

    /// Transforms `values` in place, refusing what the host refuses.
    pub(crate) fn ntt(values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError> {
        let refused = |m: String| AdapterError::Internal(format!("host kernel refused input: {m}"));
        if !values.len().is_power_of_two() {
            return Err(refused(format!("NTT length {} is not a power of two", values.len())));
        }
        let d = Radix2EvaluationDomain::<Fr>::new(values.len())
            .ok_or_else(|| refused(format!("NTT length {} exceeds Fr's two-adicity", values.len())))?;
        let coset = |o: Fr| d.get_coset(o).ok_or_else(|| refused("coset offset is zero".into()));
        match kind {
            Ntt::Forward => d.fft_in_place(values),
            Ntt::Inverse => d.ifft_in_place(values),
            Ntt::CosetForward(o) => coset(o)?.fft_in_place(values),
            Ntt::CosetInverse(o) => coset(o)?.ifft_in_place(values),
        }
        Ok(())
    }
}

/// Host kernels with arkworks types.
pub mod kernels {
    use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};

    use super::AdapterError;

    #[cfg(target_arch = "wasm32")]
    pub use crate::bindings::prova::adapter::field::{G1Bases, G2Bases};
    #[cfg(not(target_arch = "wasm32"))]
    pub use crate::native::{G1Bases, G2Bases};

    /// The transforms the host offers; see `field.ntt-kind`.
    #[derive(Debug, Clone, Copy)]
    pub enum Ntt {
        Forward,
        Inverse,
        CosetForward(Fr),
        CosetInverse(Fr),
    }

    /// `sum scalars[i] * bases[start + i]` in G1, on the host.
    pub fn msm_g1(bases: &G1Bases, start: usize, scalars: &[Fr]) -> Result<G1Projective, AdapterError> {
        imp::msm_g1(bases, start, scalars)
    }

    /// `sum scalars[i] * bases[start + i]` in G2, on the host.
    pub fn msm_g2(bases: &G2Bases, start: usize, scalars: &[Fr]) -> Result<G2Projective, AdapterError> {
        imp::msm_g2(bases, start, scalars)
    }

    /// Transforms `values` (a power-of-two count) on the host.
    pub fn ntt(values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError> {
        imp::ntt(values, kind)
    }

    /// Copies resident G1 bases into the guest (costly; for adapters that compute on them).
    /// The host validated them when it loaded the key set, so only the encoding is checked here.
    pub fn g1_points(bases: &G1Bases) -> Result<Vec<G1Affine>, AdapterError> {
        imp::g1_points(bases)
    }

    /// Copies resident G2 bases into the guest; see [`g1_points`].
    pub fn g2_points(bases: &G2Bases) -> Result<Vec<G2Affine>, AdapterError> {
        imp::g2_points(bases)
    }

    /// Through the component's imports.
    #[cfg(target_arch = "wasm32")]
    mod imp {
        use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
        use ark_ec::AffineRepr;

        use super::{G1Bases, G2Bases, Ntt};
        use crate::AdapterError;
        use crate::bindings::prova::adapter::field::{self, KernelError, NttKind};

        fn to_adapter_error(e: KernelError) -> AdapterError {
            match e {
                KernelError::InvalidInput(m) => AdapterError::Internal(format!("host kernel refused input: {m}")),
                KernelError::ResourcesExhausted(m) => AdapterError::Internal(format!("host kernel resources: {m}")),
            }
        }

        fn decode_error(e: prova_codec::CodecError) -> AdapterError {
            AdapterError::Internal(format!("host kernel returned a malformed value: {e}"))
        }

        pub fn msm_g1(bases: &G1Bases, start: usize, scalars: &[Fr]) -> Result<G1Projective, AdapterError> {
            let out = field::msm_g1(bases, start as u32, &prova_codec::frs_to_limbs(scalars)).map_err(to_adapter_error)?;
            let p: G1Affine = prova_codec::g1_from_limbs(&out).map_err(decode_error)?;
            Ok(p.into_group())
        }

        pub fn msm_g2(bases: &G2Bases, start: usize, scalars: &[Fr]) -> Result<G2Projective, AdapterError> {
            let out = field::msm_g2(bases, start as u32, &prova_codec::frs_to_limbs(scalars)).map_err(to_adapter_error)?;
            let p: G2Affine = prova_codec::g2_from_limbs(&out).map_err(decode_error)?;
            Ok(p.into_group())
        }

        pub fn ntt(values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError> {
            let (kind, offset) = match kind {
                Ntt::Forward => (NttKind::Forward, Fr::from(0u64)),
                Ntt::Inverse => (NttKind::Inverse, Fr::from(0u64)),
                Ntt::CosetForward(o) => (NttKind::CosetForward, o),
                Ntt::CosetInverse(o) => (NttKind::CosetInverse, o),
            };
            let out =
                field::ntt(&prova_codec::frs_to_limbs(values), kind, &prova_codec::frs_to_limbs(&[offset])).map_err(to_adapter_error)?;
            *values = prova_codec::frs_from_limbs(&out).map_err(decode_error)?;
            Ok(())
        }

        pub fn g1_points(bases: &G1Bases) -> Result<Vec<G1Affine>, AdapterError> {
            prova_codec::g1s_from_limbs_trusted(&bases.points()).map_err(decode_error)
        }

        pub fn g2_points(bases: &G2Bases) -> Result<Vec<G2Affine>, AdapterError> {
            prova_codec::g2s_from_limbs_trusted(&bases.points()).map_err(decode_error)
        }
    }

    /// In-process, for native builds (see [`crate::native`]).
    #[cfg(not(target_arch = "wasm32"))]
    mod imp {
        use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};

        use super::{G1Bases, G2Bases, Ntt};
        use crate::AdapterError;

        pub fn msm_g1(bases: &G1Bases, start: usize, scalars: &[Fr]) -> Result<G1Projective, AdapterError> {
            crate::arkworks::msm(bases.points_ref(), start, scalars)
        }

        pub fn msm_g2(bases: &G2Bases, start: usize, scalars: &[Fr]) -> Result<G2Projective, AdapterError> {
            crate::arkworks::msm(bases.points_ref(), start, scalars)
        }

        pub fn ntt(values: &mut Vec<Fr>, kind: Ntt) -> Result<(), AdapterError> {
            crate::arkworks::ntt(values, kind)
        }

        pub fn g1_points(bases: &G1Bases) -> Result<Vec<G1Affine>, AdapterError> {
            Ok(bases.points_ref().to_vec())
        }

        pub fn g2_points(bases: &G2Bases) -> Result<Vec<G2Affine>, AdapterError> {
            Ok(bases.points_ref().to_vec())
        }
    }
}

/// The adapter's key set, held by the host (natively: the set the test installed).
pub mod keys {
    use super::AdapterError;
    #[cfg(target_arch = "wasm32")]
    use crate::bindings::prova::adapter::keys;
    use crate::bindings::prova::adapter::keys::KeyError;
    use crate::kernels::{G1Bases, G2Bases};
    #[cfg(not(target_arch = "wasm32"))]
    use crate::native as keys;

    fn to_adapter_error(e: KeyError) -> AdapterError {
        match e {
            KeyError::NoKeys if cfg!(target_arch = "wasm32") => {
                AdapterError::InvalidInput("no keys installed for this plugin: run `prova plugins setup`".into())
            }
            KeyError::NoKeys => AdapterError::InvalidInput("no keys installed: call `prova_guest::native::install_keys` first".into()),
            KeyError::MissingSection(s) => AdapterError::InvalidInput(format!("the installed key set has no section {s:?}")),
        }
    }

    /// A G1 section as resident bases.
    pub fn g1(section: &str) -> Result<G1Bases, AdapterError> {
        keys::g1(section).map_err(to_adapter_error)
    }
    /// A G2 section as resident bases.
    pub fn g2(section: &str) -> Result<G2Bases, AdapterError> {
        keys::g2(section).map_err(to_adapter_error)
    }
    /// A bytes section.
    pub fn bytes(section: &str) -> Result<Vec<u8>, AdapterError> {
        keys::bytes(section).map_err(to_adapter_error)
    }
    /// A bytes section, or `None` when no keys are installed yet.
    pub fn bytes_if_installed(section: &str) -> Result<Option<Vec<u8>>, AdapterError> {
        match keys::bytes(section) {
            Ok(b) => Ok(Some(b)),
            Err(KeyError::NoKeys) => Ok(None),
            Err(e) => Err(to_adapter_error(e)),
        }
    }
}

/// The host, in-process: what the SDK calls when it is not built for `wasm32`.
#[cfg(not(target_arch = "wasm32"))]
pub mod native {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::Arc;

    use ark_bn254::{G1Affine, G2Affine};

    use crate::bindings::prova::adapter::keys::KeyError;
    use crate::{AdapterError, KeyData, KeySection};

    thread_local! {
        // Per thread, so that parallel tests each have their own; threads an adapter starts
        // itself see no keys (a component has one thread anyway).
        static KEYS: RefCell<Option<Arc<HashMap<String, Section>>>> = const { RefCell::new(None) };
    }

    enum Section {
        G1(Arc<Vec<G1Affine>>),
        G2(Arc<Vec<G2Affine>>),
        Bytes(Vec<u8>),
    }

    /// Installs a key set for this thread's SDK calls, as the host does from the plugin's key
    /// file: usually the sections the adapter's own `setup` returned. As the host does, it
    /// refuses a section name given twice and checks every point (on the curve, in the subgroup).
    pub fn install_keys(sections: Vec<KeySection>) -> Result<(), AdapterError> {
        let bad = |name: &str, e: prova_codec::CodecError| AdapterError::InvalidInput(format!("key section {name}: {e}"));
        let mut set = HashMap::new();
        for k in sections {
            let section = match k.data {
                KeyData::G1Points(l) => Section::G1(Arc::new(prova_codec::g1s_from_limbs(&l).map_err(|e| bad(&k.name, e))?)),
                KeyData::G2Points(l) => Section::G2(Arc::new(prova_codec::g2s_from_limbs(&l).map_err(|e| bad(&k.name, e))?)),
                KeyData::Bytes(b) => Section::Bytes(b),
            };
            if set.insert(k.name.clone(), section).is_some() {
                return Err(AdapterError::InvalidInput(format!("key set: section {:?} appears twice", k.name)));
            }
        }
        KEYS.with(|k| *k.borrow_mut() = Some(Arc::new(set)));
        Ok(())
    }

    /// Forgets this thread's key set (SDK calls then answer "no keys", as a host without a key file).
    pub fn remove_keys() {
        KEYS.with(|k| *k.borrow_mut() = None);
    }

    /// Section `name` as `kind` (the host's wording: a section of another kind is missing "as"
    /// the kind asked for).
    fn section<T>(name: &str, kind: &str, pick: impl FnOnce(&Section) -> Option<T>) -> Result<T, KeyError> {
        let set = KEYS.with(|k| k.borrow().clone()).ok_or(KeyError::NoKeys)?;
        set.get(name).and_then(pick).ok_or_else(|| KeyError::MissingSection(format!("{name} (as {kind})")))
    }

    /// G1 bases held for the adapter.
    pub struct G1Bases(Arc<Vec<G1Affine>>);
    /// G2 bases held for the adapter.
    pub struct G2Bases(Arc<Vec<G2Affine>>);

    impl G1Bases {
        pub fn len(&self) -> u32 {
            self.0.len() as u32
        }
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub(crate) fn points_ref(&self) -> &[G1Affine] {
            &self.0
        }
    }

    impl G2Bases {
        pub fn len(&self) -> u32 {
            self.0.len() as u32
        }
        pub fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub(crate) fn points_ref(&self) -> &[G2Affine] {
            &self.0
        }
    }

    pub(crate) fn g1(name: &str) -> Result<G1Bases, KeyError> {
        section(name, "G1 points", |s| if let Section::G1(p) = s { Some(G1Bases(p.clone())) } else { None })
    }

    pub(crate) fn g2(name: &str) -> Result<G2Bases, KeyError> {
        section(name, "G2 points", |s| if let Section::G2(p) = s { Some(G2Bases(p.clone())) } else { None })
    }

    pub(crate) fn bytes(name: &str) -> Result<Vec<u8>, KeyError> {
        section(name, "bytes", |s| if let Section::Bytes(b) = s { Some(b.clone()) } else { None })
    }
}
