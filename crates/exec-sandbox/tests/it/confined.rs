//! confined
