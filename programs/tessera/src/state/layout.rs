//! Fixed-layout account cores: the fixed-size fields of the hot accounts (job, claim, node,
//! config) live in a `…Core` struct that is `#[repr(C)]` with no padding, laid out in the order
//! Borsh writes its fields. Its Borsh bytes are then exactly its bytes in memory, so the
//! account moves in and out of its data with one copy ([`write`], [`read`]) instead of one
//! Borsh call per field (about 30 compute units each: the hot accounts cost 3–4k CU each way
//! before). The account's IDL and every off-chain decoder are unchanged by this: the bytes are
//! the same Borsh bytes. [`read`] still validates every enum and bool (as Borsh does), so a core
//! is never built from an invalid pattern. `docs/CU.md` has the before and after.
use anchor_lang::prelude::borsh::io::{Error, ErrorKind, Read, Result, Write};
use bytemuck::{CheckedBitPattern, NoUninit, Zeroable};

#[cfg(target_endian = "big")]
compile_error!("account cores are little-endian, as Borsh is");

/// Borsh `serialize_with` for a core: its bytes in one write.
pub fn write<T: NoUninit, W: Write>(value: &T, writer: &mut W) -> Result<()> {
    writer.write_all(bytemuck::bytes_of(value))
}

/// Borsh `deserialize_with` for a core: one read, then the bit-pattern check of every enum and
/// bool field (what Borsh's per-field reads would have rejected).
pub fn read<T: CheckedBitPattern, R: Read>(reader: &mut R) -> Result<T> {
    let mut bits = <T::Bits as Zeroable>::zeroed();
    // SAFETY: `T::Bits` is `AnyBitPattern`: zeroed it is initialised, and any bytes written
    // into it leave a valid value.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(
            (&mut bits as *mut T::Bits).cast::<u8>(),
            core::mem::size_of::<T::Bits>(),
        )
    };
    reader.read_exact(bytes)?;
    if !T::is_valid_bit_pattern(&bits) {
        return Err(Error::new(
            ErrorKind::InvalidData,
            "invalid enum or bool in an account",
        ));
    }
    // SAFETY: `CheckedBitPattern` guarantees `T::Bits` has `T`'s size and layout, and the
    // pattern was just checked valid for `T`.
    Ok(unsafe { core::mem::transmute_copy::<T::Bits, T>(&bits) })
}

/// `Deref` and `DerefMut` from an account type to its fixed-size core, so `job.state` reads
/// `job.core.state` (and `Account<Job>` reaches the core's fields and methods).
#[macro_export]
macro_rules! deref_to_core {
    ($account:ty => $core:ty) => {
        impl ::core::ops::Deref for $account {
            type Target = $core;
            fn deref(&self) -> &$core {
                &self.core
            }
        }

        impl ::core::ops::DerefMut for $account {
            fn deref_mut(&mut self) -> &mut $core {
                &mut self.core
            }
        }
    };
}

/// An account of type `A` (a [`super::Job`], [`super::Node`]) seen through its fixed-size core
/// `C` only. `Account<'info, Head<Job, JobCore>>` checks the owner and the discriminator as
/// `Account<Job>` does, reads the core in one copy and writes it back in one, and never touches
/// the variable-size tail behind it (URIs, hardware strings): what every instruction that needs
/// none of the tail uses (`JobHead`, `NodeHead`). Writing it back writes the discriminator and
/// the core; the tail stays as it is.
pub struct Head<A, C> {
    core: C,
    account: core::marker::PhantomData<fn() -> A>,
}

impl<A, C: Copy> Clone for Head<A, C> {
    fn clone(&self) -> Self {
        Head {
            core: self.core,
            account: core::marker::PhantomData,
        }
    }
}

impl<A, C> core::ops::Deref for Head<A, C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.core
    }
}

impl<A, C> core::ops::DerefMut for Head<A, C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.core
    }
}

impl<A: anchor_lang::Owner, C> anchor_lang::Owner for Head<A, C> {
    fn owner() -> anchor_lang::prelude::Pubkey {
        A::owner()
    }
}

impl<A: anchor_lang::Discriminator, C> anchor_lang::Discriminator for Head<A, C> {
    const DISCRIMINATOR: &'static [u8] = A::DISCRIMINATOR;
}

impl<A: anchor_lang::Discriminator, C: NoUninit> anchor_lang::AccountSerialize for Head<A, C> {
    fn try_serialize<W: std::io::Write>(&self, writer: &mut W) -> anchor_lang::Result<()> {
        use anchor_lang::error::ErrorCode;
        writer
            .write_all(A::DISCRIMINATOR)
            .and_then(|()| writer.write_all(bytemuck::bytes_of(&self.core)))
            .map_err(|_| ErrorCode::AccountDidNotSerialize.into())
    }
}

impl<A: anchor_lang::Discriminator, C: CheckedBitPattern> anchor_lang::AccountDeserialize
    for Head<A, C>
{
    fn try_deserialize(buf: &mut &[u8]) -> anchor_lang::Result<Self> {
        use anchor_lang::error::ErrorCode;
        let disc = A::DISCRIMINATOR;
        if buf.len() < disc.len() {
            return Err(ErrorCode::AccountDiscriminatorNotFound.into());
        }
        if &buf[..disc.len()] != disc {
            return Err(ErrorCode::AccountDiscriminatorMismatch.into());
        }
        Self::try_deserialize_unchecked(buf)
    }

    fn try_deserialize_unchecked(buf: &mut &[u8]) -> anchor_lang::Result<Self> {
        let mut data: &[u8] = buf
            .get(A::DISCRIMINATOR.len()..)
            .ok_or(anchor_lang::error::ErrorCode::AccountDidNotDeserialize)?;
        let core =
            read(&mut data).map_err(|_| anchor_lang::error::ErrorCode::AccountDidNotDeserialize)?;
        Ok(Head {
            core,
            account: core::marker::PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use core::mem::{offset_of, size_of};

    use anchor_lang::prelude::*;
    use bytemuck::{CheckedBitPattern, NoUninit};

    use crate::state::{ClaimCore, ConfigCore, JobCore, NodeCore};

    /// A core whose every byte differs from its neighbours (so a field written at the wrong
    /// place or in the wrong order shows), with the bytes at `small` (enums, bools) set to 1.
    fn patterned<T: CheckedBitPattern>(small: &[usize]) -> T {
        let mut bytes: Vec<u8> = (0..size_of::<T>()).map(|i| (i % 251) as u8 + 2).collect();
        for &o in small {
            bytes[o] = 1;
        }
        bytemuck::checked::try_pod_read_unaligned(&bytes).expect("a valid pattern")
    }

    /// The derived per-field Borsh encoding of `core` is its memory, and `read` gives it back;
    /// a bad enum or bool byte is refused.
    fn same_as_borsh<T>(small: &[usize])
    where
        T: CheckedBitPattern + NoUninit + AnchorSerialize + std::fmt::Debug,
    {
        let core: T = patterned(small);
        let mut borsh = Vec::new();
        core.serialize(&mut borsh).unwrap();
        assert_eq!(borsh.len(), size_of::<T>(), "no padding, no hidden bytes");
        assert_eq!(borsh, bytemuck::bytes_of(&core), "Borsh bytes = memory");
        let mut sink = Vec::new();
        super::write(&core, &mut sink).unwrap();
        assert_eq!(sink, borsh);
        let back: T = super::read(&mut borsh.as_slice()).unwrap();
        assert_eq!(bytemuck::bytes_of(&back), borsh.as_slice());
        for &o in small {
            let mut bad = borsh.clone();
            bad[o] = 200;
            assert!(
                super::read::<T, _>(&mut bad.as_slice()).is_err(),
                "byte {o}"
            );
        }
        // too short: an error, never a partial value
        assert!(super::read::<T, _>(&mut &borsh[..borsh.len() - 1]).is_err());
    }

    #[test]
    fn cores_are_their_borsh_encoding() {
        same_as_borsh::<JobCore>(&[
            offset_of!(JobCore, state),
            offset_of!(JobCore, market),
            offset_of!(JobCore, has_winner),
            offset_of!(JobCore, challenged),
            offset_of!(JobCore, audit_undecided),
        ]);
        same_as_borsh::<ClaimCore>(&[offset_of!(ClaimCore, state)]);
        same_as_borsh::<NodeCore>(&[]);
        same_as_borsh::<ConfigCore>(&[offset_of!(ConfigCore, paused)]);
        // workers and indexers filter on these offsets (account offset = 8 + core offset)
        assert_eq!(
            8 + offset_of!(JobCore, state),
            crate::state::Job::STATE_OFFSET
        );
        assert_eq!(
            8 + offset_of!(JobCore, client),
            crate::state::Job::CLIENT_OFFSET
        );
        assert_eq!(offset_of!(ClaimCore, job), 0);
        assert_eq!(offset_of!(NodeCore, operator), 0);
    }
}
