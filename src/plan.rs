//! How a file is cut into parts: every part is `part_size` bytes at an offset
//! that is a multiple of it, except the last, which holds the remainder.
//! Sizes and offsets are `u64` throughout: files over 4 GiB are normal.

use crate::protocol::PART_SIZES;

/// One part of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Part {
    pub index: u64,
    pub offset: u64,
    pub len: u64,
}

impl Part {
    /// One past the last byte of the part.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// The parts of a file of `file_size` bytes at `part_size` bytes a part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartPlan {
    file_size: u64,
    part_size: u64,
}

/// Why a plan or a part does not fit the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The file is empty.
    EmptyFile,
    /// The part size is not one the protocol allows.
    BadPartSize(u64),
    /// The offset is not a multiple of the part size, or lies past the end.
    BadOffset(u64),
    /// The length is not this part's length.
    BadLength { expected: u64, got: u64 },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::EmptyFile => f.write_str("the file is empty"),
            PlanError::BadPartSize(size) => {
                write!(f, "part size {size} is not one of {PART_SIZES:?}")
            }
            PlanError::BadOffset(offset) => {
                write!(f, "offset {offset} is not the start of a part of this file")
            }
            PlanError::BadLength { expected, got } => {
                write!(f, "this part is {expected} bytes long, not {got}")
            }
        }
    }
}

impl std::error::Error for PlanError {}

impl PartPlan {
    /// A plan for a non-empty file and one of the protocol's part sizes.
    pub fn new(file_size: u64, part_size: u64) -> Result<PartPlan, PlanError> {
        if !PART_SIZES.contains(&part_size) {
            return Err(PlanError::BadPartSize(part_size));
        }
        PartPlan::fixed_by_server(file_size, part_size)
    }

    /// A plan with the part size a server fixed in an earlier attempt: any
    /// positive size is taken, since the server's word is final on resume.
    pub fn fixed_by_server(file_size: u64, part_size: u64) -> Result<PartPlan, PlanError> {
        if part_size == 0 {
            return Err(PlanError::BadPartSize(part_size));
        }
        if file_size == 0 {
            return Err(PlanError::EmptyFile);
        }
        Ok(PartPlan {
            file_size,
            part_size,
        })
    }

    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    pub fn part_size(&self) -> u64 {
        self.part_size
    }

    /// Number of parts, at least one.
    pub fn count(&self) -> u64 {
        self.file_size.div_ceil(self.part_size)
    }

    /// The part at `index`, if the file has one there.
    pub fn part(&self, index: u64) -> Option<Part> {
        let offset = index.checked_mul(self.part_size)?;
        (offset < self.file_size).then(|| Part {
            index,
            offset,
            len: self.part_size.min(self.file_size - offset),
        })
    }

    /// All parts, in order.
    pub fn parts(&self) -> impl Iterator<Item = Part> + '_ {
        (0..self.count()).map(|index| self.part(index).expect("index below count"))
    }

    /// The part starting at `offset`, if a part starts there.
    pub fn part_at(&self, offset: u64) -> Result<Part, PlanError> {
        if offset % self.part_size != 0 {
            return Err(PlanError::BadOffset(offset));
        }
        self.part(offset / self.part_size)
            .ok_or(PlanError::BadOffset(offset))
    }

    /// Validates an incoming part: it must start a part and have exactly
    /// that part's length.
    pub fn check(&self, offset: u64, len: u64) -> Result<Part, PlanError> {
        let part = self.part_at(offset)?;
        if part.len != len {
            return Err(PlanError::BadLength {
                expected: part.len,
                got: len,
            });
        }
        Ok(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1_048_576;
    const HALF: u64 = 524_288;

    #[test]
    fn the_protocol_example() {
        let plan = PartPlan::new(6_000_000, MIB).unwrap();
        let parts: Vec<_> = plan.parts().collect();
        assert_eq!(parts.len(), 6);
        for (i, part) in parts[..5].iter().enumerate() {
            assert_eq!((part.offset, part.len), (i as u64 * MIB, MIB));
        }
        assert_eq!((parts[5].offset, parts[5].len), (5_242_880, 757_120));
    }

    #[test]
    fn one_byte() {
        let plan = PartPlan::new(1, HALF).unwrap();
        assert_eq!(plan.count(), 1);
        assert_eq!(
            plan.part(0),
            Some(Part {
                index: 0,
                offset: 0,
                len: 1
            })
        );
        assert_eq!(plan.part(1), None);
        assert_eq!(plan.check(0, 1).unwrap().len, 1);
        assert_eq!(
            plan.check(0, 2),
            Err(PlanError::BadLength {
                expected: 1,
                got: 2
            })
        );
    }

    #[test]
    fn exact_multiples_and_one_more() {
        let plan = PartPlan::new(3 * MIB, MIB).unwrap();
        assert_eq!(plan.count(), 3);
        assert_eq!(plan.part(2).unwrap().len, MIB);
        assert_eq!(plan.part_at(3 * MIB), Err(PlanError::BadOffset(3 * MIB)));

        let plan = PartPlan::new(3 * MIB + 1, MIB).unwrap();
        assert_eq!(plan.count(), 4);
        assert_eq!(
            plan.part(3),
            Some(Part {
                index: 3,
                offset: 3 * MIB,
                len: 1
            })
        );
        assert_eq!(plan.check(3 * MIB, 1).unwrap().index, 3);
        assert_eq!(
            plan.check(MIB, MIB - 1),
            Err(PlanError::BadLength {
                expected: MIB,
                got: MIB - 1
            })
        );
        assert_eq!(plan.check(1, MIB), Err(PlanError::BadOffset(1)));
    }

    #[test]
    fn beyond_four_gib() {
        let size = 5 * 1024 * MIB + 12_345; // 5 GiB and a tail
        let plan = PartPlan::new(size, HALF).unwrap();
        assert_eq!(plan.count(), 10 * 1024 + 1);
        let last = plan.part(plan.count() - 1).unwrap();
        assert_eq!(last.offset, 5 * 1024 * MIB);
        assert_eq!(last.len, 12_345);
        assert_eq!(last.end(), size);
        assert_eq!(
            plan.check(4 * 1024 * MIB + HALF, HALF).unwrap().index,
            8 * 1024 + 1
        );
        assert_eq!(plan.parts().map(|p| p.len).sum::<u64>(), size);
        assert_eq!(plan.part(u64::MAX), None);
    }

    #[test]
    fn refuses_bad_plans() {
        assert_eq!(PartPlan::new(0, MIB), Err(PlanError::EmptyFile));
        assert_eq!(PartPlan::new(10, 1000), Err(PlanError::BadPartSize(1000)));
        assert_eq!(PartPlan::new(10, 0), Err(PlanError::BadPartSize(0)));
        assert_eq!(
            PartPlan::fixed_by_server(10, 0),
            Err(PlanError::BadPartSize(0))
        );
        assert_eq!(PartPlan::fixed_by_server(10, 3).unwrap().count(), 4);
    }
}
