internal import CLibUV

/// Facts about the libuv library this process is linked against.
///
/// The transport layer runs its event loop on libuv; this namespace is the first seam to it.
public enum LibUV {
    /// The version of the linked libuv, such as `1.44.2`.
    public static var versionString: String {
        String(cString: uv_version_string())
    }
}
