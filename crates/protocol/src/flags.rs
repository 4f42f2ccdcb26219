//! A small macro for the bit-flag newtypes of the three message kinds.

/// Defines a `u32` flag newtype with named constants, set operations and a `Debug` that names
/// the flags set (unnamed bits are shown in hex).
macro_rules! wire_flags {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        $(
            $(#[$flag_meta:meta])*
            const $flag:ident = $bit:expr;
        )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u32);

        impl $name {
            $(
                $(#[$flag_meta])*
                pub const $flag: Self = Self($bit);
            )*

            const NAMED: &'static [(&'static str, u32)] = &[$((stringify!($flag), $bit)),*];

            /// No flag set.
            pub const fn empty() -> Self {
                Self(0)
            }

            /// The bits as they appear on the wire.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// Whether every flag set in `other` is set in `self`.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// The flags set in either.
            #[must_use]
            pub const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// Sets the flags of `other`.
            pub fn insert(&mut self, other: Self) {
                self.0 |= other.0;
            }

            /// Clears the flags of `other`.
            pub fn remove(&mut self, other: Self) {
                self.0 &= !other.0;
            }

            /// Sets or clears the flags of `other`.
            pub fn set(&mut self, other: Self, on: bool) {
                if on {
                    self.insert(other);
                } else {
                    self.remove(other);
                }
            }
        }

        impl ::std::ops::BitOr for $name {
            type Output = Self;

            fn bitor(self, other: Self) -> Self {
                self.union(other)
            }
        }

        impl ::std::ops::BitOrAssign for $name {
            fn bitor_assign(&mut self, other: Self) {
                self.insert(other);
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                let mut rest = self.0;
                let mut first = true;
                for &(name, bit) in Self::NAMED {
                    if rest & bit != 0 {
                        if !first {
                            f.write_str(" | ")?;
                        }
                        f.write_str(name)?;
                        rest &= !bit;
                        first = false;
                    }
                }
                if rest != 0 {
                    if !first {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{rest:#x}")?;
                    first = false;
                }
                if first {
                    f.write_str("empty")?;
                }
                f.write_str(")")
            }
        }
    };
}
