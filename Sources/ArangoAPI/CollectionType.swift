/// A collection's type, with ArangoDB's numbers (2 document, 3 edge).
public enum CollectionType: Int, Sendable {
    case document = 2
    case edge = 3

    public var name: String { self == .document ? "document" : "edge" }
}
